-- PostgreSQL roles and database for a production myriagate (PostgreSQL 13 or later).
--
-- Two roles, least privilege:
--   owner  (default myriagate_owner): owns the database and every table; used ONLY to run
--          migrations (`myriagate admin db upgrade`) and restores.
--   app    (default myriagate_app): what the API and the workers connect as; may read and
--          write rows (SELECT, INSERT, UPDATE, DELETE) but not create, alter or drop tables,
--          so a compromised web process cannot change the schema or the migration history's
--          structure.
--
-- Run as a superuser, with psql variables (psql quotes them: any value is safe):
--
--   sudo -u postgres psql -X -v ON_ERROR_STOP=1 \
--       -v dbname=myriagate -v owner=myriagate_owner -v app=myriagate_app \
--       -v owner_password="$(cat /etc/myriagate/db-owner.password)" \
--       -v app_password="$(cat /etc/myriagate/db-app.password)" \
--       -f deploy/postgres/setup.sql
--
-- Idempotent: run it again after a restore with --no-privileges, or to reset grants.
-- Then, as the owner: MYRIAGATE_DATABASE_URL=postgresql+psycopg://myriagate_owner:…@host/myriagate
--   myriagate admin db upgrade
-- and give the services the app role's URL (docs/operations.md).

\set ON_ERROR_STOP on

-- Roles (created when missing; passwords always (re)set).
SELECT format('CREATE ROLE %I LOGIN', :'owner')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') \gexec
ALTER ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
ALTER ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
-- A web request that hangs on a lock should fail, not pile up connections.
ALTER ROLE :"app" SET lock_timeout = '10s';
ALTER ROLE :"app" SET idle_in_transaction_session_timeout = '5min';

-- The database, owned by the owner role, UTF-8.
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'dbname', :'owner', 'UTF8')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'dbname') \gexec
ALTER DATABASE :"dbname" OWNER TO :"owner";
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"dbname" TO :"app";

\connect :"dbname"

-- Only the owner creates objects in the schema the migrations use (public).
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";

-- Rows, for tables that exist now (a re-run after migrations or a restore) ...
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO :"app";
-- ... and for every table a future migration creates as the owner.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO :"app";
