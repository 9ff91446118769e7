-- Whether other people may see a user's e-mail address where a surface shows the user to
-- someone else (Trieve's `visible_email`). Everyone's address stays visible until they say.
ALTER TABLE users ADD COLUMN email_visible BOOLEAN NOT NULL DEFAULT TRUE;
