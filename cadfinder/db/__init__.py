"""PostgreSQL + pgvector: the embedded server, connections, migrations, roles and indexes."""
