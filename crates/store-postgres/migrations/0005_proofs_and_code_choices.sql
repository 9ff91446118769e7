-- When a session last proved its password or second factor (sign-in, re-authentication):
-- enrolling, replacing or removing a second factor needs a recent proof. Sessions from before
-- this have none, so they prove themselves again first.
ALTER TABLE sessions ADD COLUMN proved_at TIMESTAMPTZ;

-- An organisation's explicit choice of the seed's 4-digit password-reset codes (weaker).
ALTER TABLE organizations ADD COLUMN short_reset_codes BOOLEAN NOT NULL DEFAULT FALSE;
