-- The implicit form that decodes to the part itself: local codes on a sparse lattice around the
-- surface (cadfinder.implicit), one compressed blob per part (about 20-250 KB), decoded by the
-- shared local-code model for previews, deviation maps, `cadfinder mesh` and the bridge's
-- validation. implicit_version names the model that encoded it; `cadfinder embed` re-encodes
-- parts whose version differs. The 256-d sdf_latent stays the search index.
ALTER TABLE cad_models ADD COLUMN implicit_codes bytea;
ALTER TABLE cad_models ADD COLUMN implicit_version text;
