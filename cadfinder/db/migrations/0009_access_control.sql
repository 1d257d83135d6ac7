-- Access control the database enforces: a part is visible to a login when its access_group is
-- 'all', when the group is granted to the login (or to a role the login is a member of), or to
-- admins. Row-level security on every table that holds part data; the tables keyed by a part
-- show a row only when its part is visible (their policies read cad_models, whose own policy
-- applies to the caller). The table owner and superusers (migrations, maintenance) bypass it.
CREATE TABLE access_grants (
    grantee       text NOT NULL CHECK (length(grantee) BETWEEN 1 AND 63),
    access_group  text NOT NULL CHECK (length(access_group) BETWEEN 1 AND 100),
    granted_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (grantee, access_group)
);

CREATE FUNCTION cadfinder_is_admin() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = 'cadfinder_admin'
                   AND pg_has_role(current_user, r.oid, 'MEMBER'))
$$;

-- The groups granted to the caller (NULL for admins, who see every group). Grants name roles
-- by text; a dropped role's grants match nobody (pg_has_role on a missing name would raise, so
-- roles are joined by oid). The policies call both functions in uncorrelated subqueries, which
-- PostgreSQL evaluates once per statement rather than once per row.
CREATE FUNCTION cadfinder_granted_groups() RETURNS text[] LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN cadfinder_is_admin() THEN NULL ELSE ARRAY(
        SELECT g.access_group FROM access_grants g JOIN pg_roles r ON r.rolname = g.grantee
         WHERE pg_has_role(current_user, r.oid, 'MEMBER')) END
$$;

ALTER TABLE cad_models ENABLE ROW LEVEL SECURITY;
CREATE POLICY part_visible ON cad_models FOR SELECT USING (
    access_group = 'all' OR (SELECT cadfinder_is_admin())
    OR access_group = ANY (coalesce((SELECT cadfinder_granted_groups()), '{}'::text[])));
CREATE POLICY admin_writes ON cad_models FOR ALL USING ((SELECT cadfinder_is_admin()))
    WITH CHECK ((SELECT cadfinder_is_admin()));

ALTER TABLE part_views ENABLE ROW LEVEL SECURITY;
CREATE POLICY part_visible ON part_views FOR SELECT USING (
    (SELECT cadfinder_is_admin()) OR EXISTS (SELECT 1 FROM cad_models m WHERE m.id = model_id));
CREATE POLICY admin_writes ON part_views FOR ALL USING ((SELECT cadfinder_is_admin()))
    WITH CHECK ((SELECT cadfinder_is_admin()));

ALTER TABLE scan_view_descriptors ENABLE ROW LEVEL SECURITY;
CREATE POLICY part_visible ON scan_view_descriptors FOR SELECT USING (
    (SELECT cadfinder_is_admin()) OR EXISTS (SELECT 1 FROM cad_models m WHERE m.id = model_id));
CREATE POLICY admin_writes ON scan_view_descriptors FOR ALL USING ((SELECT cadfinder_is_admin()))
    WITH CHECK ((SELECT cadfinder_is_admin()));

ALTER TABLE library_map ENABLE ROW LEVEL SECURITY;
CREATE POLICY part_visible ON library_map FOR SELECT USING (
    (SELECT cadfinder_is_admin()) OR EXISTS (SELECT 1 FROM cad_models m WHERE m.id = model_id));
CREATE POLICY admin_writes ON library_map FOR ALL USING ((SELECT cadfinder_is_admin()))
    WITH CHECK ((SELECT cadfinder_is_admin()));

ALTER TABLE assembly_hierarchy ENABLE ROW LEVEL SECURITY;
CREATE POLICY part_visible ON assembly_hierarchy FOR SELECT USING (
    (SELECT cadfinder_is_admin()) OR (EXISTS (SELECT 1 FROM cad_models m WHERE m.id = assembly_id)
                                      AND EXISTS (SELECT 1 FROM cad_models m WHERE m.id = component_id)));
CREATE POLICY admin_writes ON assembly_hierarchy FOR ALL USING ((SELECT cadfinder_is_admin()))
    WITH CHECK ((SELECT cadfinder_is_admin()));

-- A designer sees the grants that reach it; admins manage them all.
ALTER TABLE access_grants ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_grants ON access_grants FOR SELECT USING (
    (SELECT cadfinder_is_admin()) OR EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = grantee
                                             AND pg_has_role(current_user, r.oid, 'MEMBER')));
CREATE POLICY admin_writes ON access_grants FOR ALL USING ((SELECT cadfinder_is_admin()))
    WITH CHECK ((SELECT cadfinder_is_admin()));
