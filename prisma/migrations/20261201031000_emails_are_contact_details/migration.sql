-- Emails stop being unique: until accounts with verified addresses exist, an email is an unverified contact
-- detail, not an identifier.
--
-- With the unique index on lower(email), POST /api/v1/users and PATCH /api/v1/users/me answered 409 for an
-- address someone had already given, so anyone could test which addresses are registered, and claim an address
-- first (nothing verifies it). Without it, a taken address and a free one behave the same from outside. When
-- verified accounts arrive, uniqueness belongs on verified addresses (their own issue).
--
-- A plain index on lower(email) keeps the legacy importer's owner lookup by email fast; the importer refuses an
-- email that more than one user gave (use the user id then).

DROP INDEX IF EXISTS users_email_lower_key;
CREATE INDEX users_email_lower_idx ON users (lower(email)) WHERE email IS NOT NULL;
