-- Identities from OpenID Connect providers (issue 13 §1): (issuer, subject) -> user. A valid token of a
-- configured provider finds its user here; an unknown identity may create one (provisioning) or, when
-- configured, join the user whose verified email it shares (linking). Request roles only read their own
-- identities; everything else goes through app.oidc_sign_in() (SECURITY DEFINER), which the service calls
-- as parley_app with no caller, after verifying the token.

CREATE TABLE external_identities (
  issuer         text        NOT NULL CHECK (length(issuer) BETWEEN 1 AND 2048),
  subject        text        NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
  user_id        uuid        NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  -- As the provider last stated them (email_verified false when it did not say).
  email          text,
  email_verified boolean     NOT NULL DEFAULT false,
  created_at     timestamptz NOT NULL DEFAULT current_timestamp,
  last_seen_at   timestamptz NOT NULL DEFAULT current_timestamp,
  PRIMARY KEY (issuer, subject)
);
CREATE INDEX external_identities_user_id_idx ON external_identities (user_id);
CREATE INDEX external_identities_verified_email_idx ON external_identities (lower(email)) WHERE email_verified;

ALTER TABLE external_identities ENABLE ROW LEVEL SECURITY;
ALTER TABLE external_identities FORCE ROW LEVEL SECURITY;
CREATE POLICY external_identities_owner_select ON external_identities FOR SELECT TO parley_app
  USING (user_id = (SELECT app.current_user_id()));
CREATE POLICY external_identities_admin_select ON external_identities FOR SELECT TO parley_admin
  USING ((SELECT app.is_admin()));
GRANT SELECT ON external_identities TO parley_app, parley_admin;

-- ADMIN_EMAILS, written at each start by the service (maintenance path): a user whose email a provider
-- verified, and is listed here, becomes an admin when they sign in. No request role reads or writes it.
CREATE TABLE admin_emails (
  email text PRIMARY KEY CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254)
);
ALTER TABLE admin_emails ENABLE ROW LEVEL SECURITY;
ALTER TABLE admin_emails FORCE ROW LEVEL SECURITY;

-- The user of a verified token's identity: the known one; else, with p_link, the one user whose email another
-- identity has verified to be this token's verified email; else, with p_provision, a new user made from the
-- claims (the email only when verified, the picture only when https). No row when there is none and it may
-- not create one. A listed (admin_emails) verified email makes the user an admin. Outcome: known, linked or
-- provisioned. A disabled user is returned like any other: the request's first statement refuses them.
CREATE OR REPLACE FUNCTION app.oidc_sign_in(
  p_issuer text, p_subject text, p_email text, p_email_verified boolean, p_name text, p_picture text,
  p_provision boolean, p_link boolean
) RETURNS TABLE (caller uuid, outcome text)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
  AS $$
  DECLARE
    v_user uuid;
    v_outcome text;
    v_verified_email text := CASE WHEN p_email_verified AND p_email IS NOT NULL THEN lower(p_email) END;
    v_candidates uuid[];
  BEGIN
    SELECT e.user_id INTO v_user FROM external_identities e WHERE e.issuer = p_issuer AND e.subject = p_subject;
    IF FOUND THEN
      v_outcome := 'known';
      UPDATE external_identities e
         SET last_seen_at = current_timestamp, email = p_email, email_verified = coalesce(p_email_verified, false)
       WHERE e.issuer = p_issuer AND e.subject = p_subject
         AND (e.last_seen_at < current_timestamp - interval '1 minute'
              OR e.email IS DISTINCT FROM p_email
              OR e.email_verified IS DISTINCT FROM coalesce(p_email_verified, false));
    ELSIF p_link AND v_verified_email IS NOT NULL THEN
      SELECT array_agg(DISTINCT e.user_id) INTO v_candidates
        FROM external_identities e WHERE e.email_verified AND lower(e.email) = v_verified_email;
      IF cardinality(v_candidates) = 1 THEN
        v_user := v_candidates[1];
        INSERT INTO external_identities (issuer, subject, user_id, email, email_verified)
          VALUES (p_issuer, p_subject, v_user, p_email, true)
          ON CONFLICT (issuer, subject) DO NOTHING;
        v_outcome := 'linked';
      END IF;
    END IF;

    IF v_user IS NULL THEN
      IF NOT p_provision THEN
        RETURN;
      END IF;
      INSERT INTO users (email, display_name, avatar_url)
        VALUES (v_verified_email, left(nullif(btrim(p_name), ''), 200),
                CASE WHEN p_picture ~ '^https://' AND length(p_picture) <= 2048 THEN p_picture END)
        RETURNING user_id INTO v_user;
      INSERT INTO external_identities (issuer, subject, user_id, email, email_verified)
        VALUES (p_issuer, p_subject, v_user, p_email, coalesce(p_email_verified, false))
        ON CONFLICT (issuer, subject) DO NOTHING;
      IF FOUND THEN
        v_outcome := 'provisioned';
      ELSE
        -- Another request provisioned the same identity first: use theirs.
        DELETE FROM users WHERE user_id = v_user;
        SELECT e.user_id INTO v_user FROM external_identities e WHERE e.issuer = p_issuer AND e.subject = p_subject;
        v_outcome := 'known';
      END IF;
    END IF;

    IF v_verified_email IS NOT NULL AND EXISTS (SELECT 1 FROM admin_emails a WHERE a.email = v_verified_email) THEN
      UPDATE users SET role = 'admin' WHERE user_id = v_user AND role = 'user';
    END IF;
    caller := v_user;
    outcome := v_outcome;
    RETURN NEXT;
  END
  $$;
REVOKE ALL ON FUNCTION app.oidc_sign_in(text, text, text, boolean, text, text, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.oidc_sign_in(text, text, text, boolean, text, text, boolean, boolean) TO parley_app;
