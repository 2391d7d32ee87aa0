-- 002: crypto_status, the read-only role of the status page: SELECT on every table and view of this schema, now and
-- for tables later migrations create. Idempotent; safe when several databases of one cluster migrate at once.
-- The role is NOLOGIN here (no password in git). To log in with it, once per cluster (password from the Secret):
--   ALTER ROLE crypto_status WITH LOGIN PASSWORD '...';
-- or keep it a group: CREATE ROLE crypto_status_login LOGIN PASSWORD '...' IN ROLE crypto_status;
-- A migration user without CREATEROLE skips the creation with a NOTICE; a superuser then creates the role and runs
-- the GRANT statements below by hand (see the README's status page section).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crypto_status') THEN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
      BEGIN
        CREATE ROLE crypto_status NOLOGIN;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        -- Created at the same moment by the migration of another database of this cluster (roles are cluster-wide).
        NULL;
      END;
    ELSE
      RAISE NOTICE 'role crypto_status does not exist and % may not create roles: a superuser must run CREATE ROLE crypto_status NOLOGIN and the grants of 002_status_reader.sql', current_user;
    END IF;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crypto_status') THEN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO crypto_status', current_database());
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO crypto_status', current_schema());
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO crypto_status', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO crypto_status', current_schema());
  END IF;
END
$$;
