-- Prepare the primary for hot standbys. Run as a superuser on the primary:
--   psql -d postgres -v password='...' -v slots=standby1,standby2 -f replication.sql
-- A login that may stream WAL and nothing else (its password is set again on every run), and one
-- physical replication slot per standby, so that the primary keeps the WAL a standby has not
-- received yet. A slot keeps WAL for a standby that is gone for good until it is dropped:
--   SELECT pg_drop_replication_slot('standby1');
\set ON_ERROR_STOP on
SELECT format(CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'replicator')
                   THEN 'ALTER ROLE replicator WITH REPLICATION LOGIN PASSWORD %L'
                   ELSE 'CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD %L' END, :'password') \gexec
SELECT slot, pg_create_physical_replication_slot(slot)
  FROM unnest(string_to_array(:'slots', ',')) AS slot
 WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = slot);
