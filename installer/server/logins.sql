-- Personal logins for the shared library. Run as the database owner with psql:
--   psql -d cadfinder -v login=alice -v role=cadfinder_designer -v password='...' -f logins.sql
-- role: cadfinder_designer (read-only search) or cadfinder_admin (ingest, reindex).
-- Passwords are hashed with SCRAM-SHA-256 (password_encryption) before they are stored.
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L IN ROLE %I', :'login', :'password', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'login') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'login', :'password') \gexec
SELECT format('GRANT %I TO %I', :'role', :'login') \gexec
