-- Casework (issue 19): who works a case, what needs doing, who is told, and what the person
-- receives.
--
-- * Assignment: a case has an assignee, a caseworker or coordinator of the agency that owns
--   it. Coordinators assign; a caseworker may take an unassigned case (trm_case_assign).
--   A transfer (custody moves) or a transfer out ends the assignment.
-- * Tasks are computed, never stored: trm_tasks is one query over the sources (SOP
--   deadlines, consents about to expire, offers, plan reviews, deliveries refused by a peer),
--   each branch on its own index, under the caller's row-level security.
-- * Notifications: one row per event and agency (user_id set: for that user only), read
--   state per user. They are written by triggers on the rows whose change they report
--   (referrals, consents) and by trm_case_assign, so every path that makes the change tells,
--   whichever function made it. Ids and codes only.
-- * Webhooks: an agency may register one URL and secret (an admin, through the API). Every
--   notification of that agency is queued, in the transaction that made it, as an event whose
--   body (ids, codes and a case reference) is fixed then; trmd's worker signs and posts it,
--   with backoff, claiming events with FOR UPDATE SKIP LOCKED so several trmd share the work.
--   The event id is the notification's: stable, receivers dedupe by it.
-- * Services and assistance plans of a case: codes, dates and agencies in clear, a note and
--   the plan's goals sealed under the case key with a category, like notes. They go with the
--   key on erasure and are sealed again (or go) when a transfer re-keys the case.

-- ---------------------------------------------------------------------------------------
-- Assignment
ALTER TABLE cases ADD COLUMN assigned_to uuid REFERENCES users (id);
CREATE INDEX cases_assigned ON cases (assigned_to, created_at DESC, id DESC)
    WHERE assigned_to IS NOT NULL;

-- Custody that moves (a transfer, a transfer out) ends the assignment: the assignee works
-- for the former owner.
CREATE FUNCTION trm_cases_assignment_ends() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.owner_agency_id IS DISTINCT FROM OLD.owner_agency_id
       OR (NEW.transferred_out_at IS NOT NULL AND OLD.transferred_out_at IS NULL) THEN
        NEW.assigned_to := NULL;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER cases_assignment_ends BEFORE UPDATE OF owner_agency_id, transferred_out_at
    ON cases FOR EACH ROW EXECUTE FUNCTION trm_cases_assignment_ends();

-- ---------------------------------------------------------------------------------------
-- Notifications
CREATE TABLE notifications (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id   uuid NOT NULL REFERENCES agencies (id),
    -- NULL: for everyone who works cases at the agency.
    user_id     uuid REFERENCES users (id),
    kind        text NOT NULL CHECK (kind IN ('offer_received', 'offer_accepted',
                    'offer_declined', 'offer_withdrawn', 'offer_expiring', 'offer_expired',
                    'case_assigned', 'consent_withdrawn', 'consent_expired')),
    case_id     uuid REFERENCES cases (id),
    referral_id uuid REFERENCES referrals (id),
    consent_id  uuid REFERENCES consents (id),
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_agency ON notifications (agency_id, at DESC, id DESC);
CREATE INDEX notifications_at ON notifications (at);
-- An offer is said to be expiring once per agency.
CREATE UNIQUE INDEX notifications_expiring_once ON notifications (referral_id, agency_id)
    WHERE kind = 'offer_expiring';

CREATE TABLE notification_reads (
    notification_id uuid NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id),
    read_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notification_id, user_id)
);
CREATE INDEX notification_reads_user ON notification_reads (user_id);

ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE notifications FORCE ROW LEVEL SECURITY;
ALTER TABLE notification_reads ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_reads FORCE ROW LEVEL SECURITY;
-- A user reads their agency's notifications for everyone, and their own.
CREATE POLICY notifications_read ON notifications FOR SELECT TO trm_app
    USING (trm_ctx_role() IN ('caseworker', 'coordinator')
           AND agency_id = trm_ctx_agency()
           AND (user_id IS NULL OR user_id = trm_ctx_user()));
-- A user marks read what they may read, for themselves.
CREATE POLICY notification_reads_own ON notification_reads TO trm_app
    USING (user_id = trm_ctx_user())
    WITH CHECK (user_id = trm_ctx_user() AND EXISTS (
        SELECT 1 FROM notifications n WHERE n.id = notification_reads.notification_id));

-- Tells an agency (p_user NULL: everyone who works cases there; else that user) of an event.
-- Agencies of peer instances and inactive ones have nobody here to tell.
CREATE FUNCTION trm_notify(p_agency uuid, p_user uuid, p_kind text, p_case uuid,
                           p_referral uuid, p_consent uuid)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    INSERT INTO notifications (agency_id, user_id, kind, case_id, referral_id, consent_id)
    SELECT a.id, p_user, p_kind, p_case, p_referral, p_consent
    FROM agencies a WHERE a.id = p_agency AND a.instance_id IS NULL AND a.active
$$;
REVOKE ALL ON FUNCTION trm_notify(uuid, uuid, text, uuid, uuid, uuid) FROM PUBLIC;

-- Offers: received (the recipient), accepted or declined (the sender), withdrawn (the
-- recipient: by the sender, or because its consent ended or the case was erased), expired
-- (both). Every function that changes an offer, local or from a peer, passes here.
CREATE FUNCTION trm_referrals_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status = 'offered' THEN
            PERFORM trm_notify(NEW.to_agency_id, NULL, 'offer_received', NEW.case_id, NEW.id, NULL);
        END IF;
        RETURN NULL;
    END IF;
    IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NULL;
    END IF;
    IF OLD.status = 'offered' AND NEW.status IN ('accepted', 'declined') THEN
        PERFORM trm_notify(NEW.from_agency_id, NULL, 'offer_' || NEW.status, NEW.case_id,
                           NEW.id, NULL);
    ELSIF NEW.status = 'withdrawn' THEN
        PERFORM trm_notify(NEW.to_agency_id, NULL, 'offer_withdrawn', NEW.case_id, NEW.id, NULL);
    ELSIF NEW.status = 'expired' THEN
        PERFORM trm_notify(NEW.from_agency_id, NULL, 'offer_expired', NEW.case_id, NEW.id, NULL);
        PERFORM trm_notify(NEW.to_agency_id, NULL, 'offer_expired', NEW.case_id, NEW.id, NULL);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER referrals_notify AFTER INSERT OR UPDATE OF status ON referrals
    FOR EACH ROW EXECUTE FUNCTION trm_referrals_notify();

-- A consent withdrawn or expired: the case's assignee (unless they withdrew it; the owning
-- agency when nobody is assigned and nobody withdrew it) and every agency whose access
-- rests on the consent. Runs before trm_consent_end ends those grants.
CREATE FUNCTION trm_consents_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    v_kind text;
    c cases;
    g case_grants;
BEGIN
    IF NEW.withdrawn_at IS NOT NULL AND OLD.withdrawn_at IS NULL THEN
        v_kind := 'consent_withdrawn';
    ELSIF NEW.expiry_processed_at IS NOT NULL AND OLD.expiry_processed_at IS NULL
          AND NEW.withdrawn_at IS NULL THEN
        v_kind := 'consent_expired';
    ELSE
        RETURN NULL;
    END IF;
    SELECT * INTO c FROM cases WHERE id = NEW.case_id;
    IF c.assigned_to IS NOT NULL AND c.assigned_to IS DISTINCT FROM trm_ctx_user() THEN
        PERFORM trm_notify(c.owner_agency_id, c.assigned_to, v_kind, c.id, NULL, NEW.id);
    ELSIF c.assigned_to IS NULL AND trm_ctx_user() IS NULL THEN
        PERFORM trm_notify(c.owner_agency_id, NULL, v_kind, c.id, NULL, NEW.id);
    END IF;
    FOR g IN SELECT * FROM case_grants WHERE consent_id = NEW.id AND basis = 'referral'
             AND ended_at IS NULL AND agency_id <> c.owner_agency_id ORDER BY id LOOP
        PERFORM trm_notify(g.agency_id, NULL, v_kind, NEW.case_id, g.referral_id, NEW.id);
    END LOOP;
    RETURN NULL;
END;
$$;
CREATE TRIGGER consents_notify AFTER UPDATE OF withdrawn_at, expiry_processed_at ON consents
    FOR EACH ROW EXECUTE FUNCTION trm_consents_notify();

-- Offers whose deadline comes within p_hours (and which were made for longer than that):
-- each party is told once. trmd's maintenance calls it every round.
CREATE INDEX referrals_open_expiry ON referrals (expires_at) WHERE status = 'offered';
CREATE FUNCTION trm_offers_expiring_notify(p_hours integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    n integer;
BEGIN
    INSERT INTO notifications (agency_id, kind, case_id, referral_id)
    SELECT a.id, 'offer_expiring', r.case_id, r.id
    FROM referrals r
    JOIN agencies a ON a.id IN (r.from_agency_id, r.to_agency_id)
                   AND a.instance_id IS NULL AND a.active
    WHERE r.status = 'offered' AND r.expires_at > now()
      AND r.expires_at <= now() + make_interval(hours => p_hours)
      AND r.expires_at - r.created_at > make_interval(hours => p_hours)
      AND NOT EXISTS (SELECT 1 FROM notifications x WHERE x.referral_id = r.id
                      AND x.agency_id = a.id AND x.kind = 'offer_expiring')
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;
REVOKE ALL ON FUNCTION trm_offers_expiring_notify(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_offers_expiring_notify(integer) TO trm_app;

-- ---------------------------------------------------------------------------------------
-- Assignment, the act: a coordinator of the owning agency assigns any caseworker or
-- coordinator of that agency (or nobody); a caseworker may only take an unassigned case for
-- themselves. With p_version the case's version (If-Match). Answers {"outcome"}: ok
-- (unchanged when it was so already), not_found (not visible), not_owner (visible, but
-- another agency's), stale, assignee (not a user who may work the owner's cases),
-- taken (a caseworker found it assigned), coordinator_only (a caseworker assigning someone
-- else, or nobody); with ok, "previous" and "changed".
CREATE FUNCTION trm_case_assign(p_case uuid, p_version integer, p_user uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    c cases;
BEGIN
    PERFORM trm_require_caseworker();
    IF NOT EXISTS (SELECT 1 FROM case_grants g WHERE g.case_id = p_case
                   AND g.agency_id = trm_ctx_agency()) THEN
        RETURN jsonb_build_object('outcome', 'not_found');
    END IF;
    SELECT * INTO c FROM cases WHERE id = p_case FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('outcome', 'not_found');
    END IF;
    IF c.owner_agency_id <> trm_ctx_agency() OR c.transferred_out_at IS NOT NULL THEN
        RETURN jsonb_build_object('outcome', 'not_owner');
    END IF;
    IF c.version <> p_version THEN
        RETURN jsonb_build_object('outcome', 'stale');
    END IF;
    IF p_user IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM users u WHERE u.id = p_user AND u.agency_id = c.owner_agency_id
          AND NOT u.disabled AND u.role IN ('caseworker', 'coordinator')) THEN
        RETURN jsonb_build_object('outcome', 'assignee');
    END IF;
    IF c.assigned_to IS NOT DISTINCT FROM p_user THEN
        RETURN jsonb_build_object('outcome', 'ok', 'changed', false, 'previous', c.assigned_to);
    END IF;
    IF trm_ctx_role() = 'caseworker' THEN
        IF p_user IS DISTINCT FROM trm_ctx_user() THEN
            RETURN jsonb_build_object('outcome', 'coordinator_only');
        END IF;
        IF c.assigned_to IS NOT NULL THEN
            RETURN jsonb_build_object('outcome', 'taken');
        END IF;
    END IF;
    UPDATE cases SET assigned_to = p_user, version = version + 1, updated_at = now()
    WHERE id = p_case;
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_case, CASE WHEN p_user IS NULL THEN 'unassigned' ELSE 'assigned' END,
            trm_ctx_user(), trm_ctx_agency(),
            jsonb_strip_nulls(jsonb_build_object('assigned_to', p_user,
                                                 'previous', c.assigned_to)));
    IF p_user IS NOT NULL AND p_user <> trm_ctx_user() THEN
        PERFORM trm_notify(c.owner_agency_id, p_user, 'case_assigned', p_case, NULL, NULL);
    END IF;
    RETURN jsonb_build_object('outcome', 'ok', 'changed', true, 'previous', c.assigned_to);
END;
$$;
REVOKE ALL ON FUNCTION trm_case_assign(uuid, integer, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_case_assign(uuid, integer, uuid) TO trm_app;

-- ---------------------------------------------------------------------------------------
-- Webhooks
CREATE TABLE agency_webhooks (
    agency_id     uuid PRIMARY KEY REFERENCES agencies (id),
    url           text NOT NULL CHECK (url ~ '^https?://[^[:space:]]+$' AND length(url) <= 500),
    -- The secret, sealed by trmd under a key derived from the key file (never in clear
    -- here, never shown again).
    sealed_secret bytea NOT NULL CHECK (length(sealed_secret) BETWEEN 40 AND 400),
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_events (
    -- The notification's id: the same at every attempt, so a receiver dedupes by it.
    id              uuid PRIMARY KEY,
    agency_id       uuid NOT NULL REFERENCES agencies (id),
    kind            text NOT NULL,
    -- The JSON posted, fixed when the event is queued: every attempt sends the same bytes.
    body            text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text CHECK (last_error ~ '^[a-z0-9_]{1,40}$'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_events_agency ON webhook_events (agency_id, created_at);
CREATE INDEX webhook_events_finished ON webhook_events (created_at) WHERE status <> 'pending';

ALTER TABLE agency_webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE agency_webhooks FORCE ROW LEVEL SECURITY;
ALTER TABLE webhook_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_events FORCE ROW LEVEL SECURITY;
-- Admins manage the webhooks of this instance's agencies; the delivery worker reads them
-- through trm_webhook_claim.
CREATE POLICY agency_webhooks_admin ON agency_webhooks TO trm_app
    USING (trm_ctx_role() = 'admin')
    WITH CHECK (trm_ctx_role() = 'admin' AND EXISTS (
        SELECT 1 FROM agencies a WHERE a.id = agency_webhooks.agency_id
          AND a.instance_id IS NULL));
CREATE POLICY webhook_events_admin ON webhook_events FOR SELECT TO trm_app
    USING (trm_ctx_role() = 'admin');

-- Queues an event for the agency's webhook, if it has an active one. The body holds the
-- event's id, kind and time, the agency, and ids: the case (with its reference where the
-- agency may see the case, or the peer's reference of an offer from a peer), the referral,
-- the consent, the assigned user. Nothing personal exists in any of them.
CREATE FUNCTION trm_notifications_webhook() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    v_ref text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM agency_webhooks w WHERE w.agency_id = NEW.agency_id
                   AND w.active) THEN
        RETURN NULL;
    END IF;
    SELECT c.reference INTO v_ref FROM cases c
    WHERE c.id = NEW.case_id AND EXISTS (SELECT 1 FROM case_grants g WHERE g.case_id = c.id
                                         AND g.agency_id = NEW.agency_id);
    IF v_ref IS NULL THEN
        SELECT r.remote_case_reference INTO v_ref FROM referrals r WHERE r.id = NEW.referral_id;
    END IF;
    INSERT INTO webhook_events (id, agency_id, kind, body)
    VALUES (NEW.id, NEW.agency_id, NEW.kind, jsonb_strip_nulls(jsonb_build_object(
        'id', NEW.id, 'kind', NEW.kind,
        'at', to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'agency_id', NEW.agency_id, 'user_id', NEW.user_id, 'case_id', NEW.case_id,
        'case_reference', v_ref, 'referral_id', NEW.referral_id,
        'consent_id', NEW.consent_id))::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER notifications_webhook AFTER INSERT ON notifications
    FOR EACH ROW EXECUTE FUNCTION trm_notifications_webhook();

-- Registers or changes an agency's webhook (as the caller, an admin: row-level security
-- applies; the admin log is written by the caller). p_sealed NULL keeps the secret there
-- is. Answers ok (created or replaced), updated (the secret kept), secret_needed (none to
-- keep) or not_found (not an agency of this instance).
CREATE FUNCTION trm_webhook_put(p_agency uuid, p_url text, p_sealed text, p_active boolean)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM agencies WHERE id = p_agency AND instance_id IS NULL) THEN
        RETURN 'not_found';
    END IF;
    IF p_sealed IS NULL THEN
        UPDATE agency_webhooks SET url = p_url, active = p_active, updated_at = now()
        WHERE agency_id = p_agency;
        RETURN CASE WHEN FOUND THEN 'updated' ELSE 'secret_needed' END;
    END IF;
    INSERT INTO agency_webhooks AS w (agency_id, url, sealed_secret, active)
    VALUES (p_agency, p_url, decode(p_sealed, 'hex'), p_active)
    ON CONFLICT (agency_id) DO UPDATE SET url = EXCLUDED.url,
        sealed_secret = EXCLUDED.sealed_secret, active = EXCLUDED.active, updated_at = now();
    RETURN 'ok';
END;
$$;
GRANT EXECUTE ON FUNCTION trm_webhook_put(uuid, text, text, boolean) TO trm_app;

-- Removes an agency's webhook; its undelivered events go with it. SECURITY DEFINER for the
-- events (the application role cannot delete them); the caller must be an admin.
CREATE FUNCTION trm_webhook_delete(p_agency uuid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF trm_ctx_role() IS DISTINCT FROM 'admin' THEN
        RAISE EXCEPTION 'admins manage webhooks' USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM agency_webhooks WHERE agency_id = p_agency;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    DELETE FROM webhook_events WHERE agency_id = p_agency AND status = 'pending';
    RETURN true;
END;
$$;
REVOKE ALL ON FUNCTION trm_webhook_delete(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_webhook_delete(uuid) TO trm_app;

-- The delivery worker claims due events of active webhooks for p_lease_s seconds (another
-- trmd takes them after that, if this one never reports): rows locked with SKIP LOCKED, so
-- concurrent workers never claim the same event at once. "lease" is the lease's end as
-- set: the worker's proof of its claim when it renews it (trm_webhook_renew). Events posted
-- fewer times go first: an event a receiver keeps refusing is not posted ahead of the others
-- round after round (they would never be tried: trm_webhook_outcome), and an agency whose
-- receiver is away does not hold up the new events of the others.
CREATE FUNCTION trm_webhook_claim(p_limit integer, p_lease_s integer)
RETURNS TABLE (id uuid, agency_id uuid, url text, sealed_secret text, body text,
               attempts integer, lease text)
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    WITH claimed AS (
        UPDATE webhook_events e SET next_attempt_at = now() + make_interval(secs => p_lease_s)
        FROM agency_webhooks w
        WHERE w.agency_id = e.agency_id AND e.id IN (
            SELECT x.id FROM webhook_events x JOIN agency_webhooks y ON y.agency_id = x.agency_id
            WHERE x.status = 'pending' AND x.next_attempt_at <= now() AND y.active
            ORDER BY x.attempts, x.next_attempt_at, x.created_at LIMIT p_limit
            FOR UPDATE OF x SKIP LOCKED)
        RETURNING e.id, e.agency_id, w.url, encode(w.sealed_secret, 'hex') AS sealed_secret,
                  e.body, e.attempts, e.next_attempt_at::text AS lease, e.created_at)
    -- In the order they are to be posted (an UPDATE returns its rows in no order).
    SELECT id, agency_id, url, sealed_secret, body, attempts, lease FROM claimed
    ORDER BY attempts, created_at, id
$$;
REVOKE ALL ON FUNCTION trm_webhook_claim(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_webhook_claim(integer, integer) TO trm_app;

-- A worker about to post an event whose lease may end during the attempt extends it, for
-- p_lease_s seconds from now, if the claim is still its own: the event is pending and its
-- lease is the one the worker holds (p_lease, as trm_webhook_claim or this gave it). Answers
-- the new lease, or NULL when the claim was lost (another trmd took the event after the
-- lease ended, or it was delivered or removed): the worker must not post it then.
CREATE FUNCTION trm_webhook_renew(p_id uuid, p_lease timestamptz, p_lease_s integer)
RETURNS text
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    UPDATE webhook_events SET next_attempt_at = now() + make_interval(secs => p_lease_s)
    WHERE id = p_id AND status = 'pending' AND next_attempt_at = p_lease
    RETURNING next_attempt_at::text
$$;
REVOKE ALL ON FUNCTION trm_webhook_renew(uuid, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_webhook_renew(uuid, timestamptz, integer) TO trm_app;

-- An attempt's outcome: delivered; or failed (p_error a code, never text from the answer),
-- retried after 1, 2, 4, ... seconds (at most p_max_s), and given up (failed) once the event
-- is p_give_up_s old. p_posted false: the event was not posted (its agency's receiver had
-- just failed in the same round) and shares that failure without counting an attempt, so
-- it goes before the event that failed next time.
CREATE FUNCTION trm_webhook_outcome(p_id uuid, p_error text, p_posted boolean,
                                    p_max_s integer, p_give_up_s integer)
RETURNS text
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    UPDATE webhook_events
    SET attempts = attempts + CASE WHEN p_posted THEN 1 ELSE 0 END,
        last_error = left(p_error, 40),
        status = CASE WHEN p_error IS NULL THEN 'delivered'
                      WHEN created_at + make_interval(secs => p_give_up_s) <= now() THEN 'failed'
                      ELSE 'pending' END,
        delivered_at = CASE WHEN p_error IS NULL THEN now() END,
        next_attempt_at = now() + make_interval(secs => least(p_max_s,
                              power(2, least(attempts, 20))::integer))
    WHERE id = p_id AND status = 'pending'
    RETURNING status
$$;
REVOKE ALL ON FUNCTION trm_webhook_outcome(uuid, text, boolean, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_webhook_outcome(uuid, text, boolean, integer, integer) TO trm_app;

-- What an admin sees of a webhook: never the secret.
CREATE FUNCTION trm_webhook_status(p_agency uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'agency_id', w.agency_id, 'url', w.url, 'active', w.active,
        'created_at', to_char(w.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'updated_at', to_char(w.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'events', (SELECT jsonb_build_object(
            'pending', count(*) FILTER (WHERE e.status = 'pending'),
            'delivered', count(*) FILTER (WHERE e.status = 'delivered'),
            'failed', count(*) FILTER (WHERE e.status = 'failed'),
            'last_error', (SELECT x.last_error FROM webhook_events x
                           WHERE x.agency_id = w.agency_id AND x.last_error IS NOT NULL
                           ORDER BY x.next_attempt_at DESC LIMIT 1),
            'last_delivered_at', to_char(max(e.delivered_at) AT TIME ZONE 'UTC',
                                         'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
            FROM webhook_events e WHERE e.agency_id = w.agency_id))
    FROM agency_webhooks w WHERE w.agency_id = p_agency
$$;
GRANT EXECUTE ON FUNCTION trm_webhook_status(uuid) TO trm_app;

-- Old notifications and delivered or failed events go after p_days (trmd's maintenance).
CREATE FUNCTION trm_notifications_cleanup(p_days integer) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    DELETE FROM webhook_events
    WHERE status <> 'pending' AND created_at < now() - make_interval(days => p_days);
    DELETE FROM notifications n
    WHERE n.at < now() - make_interval(days => p_days)
      AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.id = n.id);
$$;
REVOKE ALL ON FUNCTION trm_notifications_cleanup(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_notifications_cleanup(integer) TO trm_app;

-- ---------------------------------------------------------------------------------------
-- Services and assistance plans
CREATE TABLE case_services (
    id                 uuid PRIMARY KEY,
    case_id            uuid NOT NULL REFERENCES cases (id),
    -- The agency that recorded it (the owner, or one that accepted a referral of the case):
    -- it alone changes it.
    agency_id          uuid NOT NULL REFERENCES agencies (id),
    type               text NOT NULL CHECK (type IN ('accommodation', 'medical', 'psychological',
                           'legal', 'interpretation', 'education', 'employment', 'financial',
                           'return_reception')),
    provider_agency_id uuid REFERENCES agencies (id),
    referral_id        uuid REFERENCES referrals (id),
    status             text NOT NULL CHECK (status IN ('planned', 'ongoing', 'completed',
                           'refused', 'unavailable')),
    referred_on        date,
    started_on         date,
    ended_on           date,
    CONSTRAINT case_services_dates CHECK (ended_on >= started_on),
    note_category      text CHECK (note_category = ANY (trm_categories())),
    sealed_note        bytea,
    CONSTRAINT case_services_note CHECK ((sealed_note IS NULL) = (note_category IS NULL)),
    version            integer NOT NULL DEFAULT 1,
    recorded_by        uuid NOT NULL REFERENCES users (id),
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_services_case ON case_services (case_id, recorded_at, id);

CREATE TABLE case_plans (
    id          uuid PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES cases (id),
    agency_id   uuid NOT NULL REFERENCES agencies (id),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    review_on   date NOT NULL,
    -- The goals (JSON), sealed; NULL once the case's personal data is erased.
    category    text NOT NULL CHECK (category = ANY (trm_categories())),
    sealed      bytea,
    version     integer NOT NULL DEFAULT 1,
    recorded_by uuid NOT NULL REFERENCES users (id),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_plans_case ON case_plans (case_id, recorded_at, id);
CREATE INDEX case_plans_review ON case_plans (agency_id, review_on) WHERE status = 'active';

ALTER TABLE case_services ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_services FORCE ROW LEVEL SECURITY;
ALTER TABLE case_plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_plans FORCE ROW LEVEL SECURITY;
-- Seen like the timeline (any grant: the owner sees what a recipient provided); written by
-- an agency that holds an active grant (the key to seal with), a sealed part only of a
-- category it holds; changed only by the agency that wrote it. Each grant check is
-- EXISTS (... OFFSET 0), probed per row as in 0016.
DO $$
DECLARE
    t text;
    cat text;
BEGIN
    FOREACH t IN ARRAY ARRAY['case_services', 'case_plans'] LOOP
        cat := CASE t WHEN 'case_services' THEN 'note_category' ELSE 'category' END;
        EXECUTE format(
            'CREATE POLICY %I ON %I FOR SELECT TO trm_app USING ('
            'trm_ctx_role() IN (''caseworker'', ''coordinator'') AND EXISTS ('
            'SELECT 1 FROM case_grants g WHERE g.case_id = %I.case_id '
            'AND g.agency_id = trm_ctx_agency() OFFSET 0))', t || '_read', t, t);
        EXECUTE format(
            'CREATE POLICY %I ON %I FOR INSERT TO trm_app WITH CHECK ('
            'trm_ctx_role() IN (''caseworker'', ''coordinator'') '
            'AND agency_id = trm_ctx_agency() AND recorded_by = trm_ctx_user() AND EXISTS ('
            'SELECT 1 FROM case_grants g WHERE g.case_id = %I.case_id '
            'AND g.agency_id = trm_ctx_agency() AND g.ended_at IS NULL '
            'AND (g.expires_at IS NULL OR g.expires_at > now()) '
            'AND cardinality(g.categories) > 0 '
            'AND (%I.%I IS NULL OR %I.%I = ANY (g.categories)) OFFSET 0))',
            t || '_write', t, t, t, cat, t, cat);
        EXECUTE format(
            'CREATE POLICY %I ON %I FOR UPDATE TO trm_app USING ('
            'trm_ctx_role() IN (''caseworker'', ''coordinator'') '
            'AND agency_id = trm_ctx_agency()) WITH CHECK ('
            'trm_ctx_role() IN (''caseworker'', ''coordinator'') '
            'AND agency_id = trm_ctx_agency() AND EXISTS ('
            'SELECT 1 FROM case_grants g WHERE g.case_id = %I.case_id '
            'AND g.agency_id = trm_ctx_agency() AND g.ended_at IS NULL '
            'AND (g.expires_at IS NULL OR g.expires_at > now()) '
            'AND cardinality(g.categories) > 0 '
            'AND (%I.%I IS NULL OR %I.%I = ANY (g.categories)) OFFSET 0))',
            t || '_change', t, t, t, cat, t, cat);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['notifications', 'notification_reads', 'agency_webhooks',
                             'webhook_events', 'case_services', 'case_plans'] LOOP
        EXECUTE format('CREATE POLICY %I ON %I TO %I USING (true) WITH CHECK (true)',
                       t || '_maintenance', t, current_user);
    END LOOP;
END;
$$;

-- Whether the caller may open a sealed part of a case of this category written by that
-- agency: the writer always (as for notes), others with an active grant of the category.
-- A plain expression, inlined where it is used.
CREATE FUNCTION trm_may_open(p_case uuid, p_category text, p_writer uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT p_writer = trm_ctx_agency() OR EXISTS (
        SELECT 1 FROM case_grants g
        WHERE g.case_id = p_case AND g.agency_id = trm_ctx_agency() AND g.ended_at IS NULL
          AND (g.expires_at IS NULL OR g.expires_at > now()) AND p_category = ANY (g.categories)
        OFFSET 0)
$$;

-- The JSON of a service or plan: clear columns, and the sealed part as hex only for a caller
-- who may open it (trmd opens it and never shows the hex; the category says a note exists).
-- Times with microseconds, as a list's cursor holds them (as for cases).
CREATE FUNCTION trm_service_json(s case_services) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', s.id, 'case_id', s.case_id, 'agency_id', s.agency_id, 'type', s.type,
        'provider_agency_id', s.provider_agency_id, 'referral_id', s.referral_id,
        'status', s.status, 'referred_on', s.referred_on, 'started_on', s.started_on,
        'ended_on', s.ended_on, 'note_category', s.note_category,
        'sealed_note', CASE WHEN trm_may_open(s.case_id, s.note_category, s.agency_id)
                            THEN encode(s.sealed_note, 'hex') END,
        'version', s.version, 'recorded_by', s.recorded_by,
        'recorded_at', to_char(s.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'updated_at', to_char(s.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
$$;
CREATE FUNCTION trm_plan_json(p case_plans) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', p.id, 'case_id', p.case_id, 'agency_id', p.agency_id, 'status', p.status,
        'review_on', p.review_on, 'category', p.category,
        'sealed', CASE WHEN trm_may_open(p.case_id, p.category, p.agency_id)
                       THEN encode(p.sealed, 'hex') END,
        'version', p.version, 'recorded_by', p.recorded_by,
        'recorded_at', to_char(p.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'updated_at', to_char(p.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
$$;

-- Records a service (as the caller: row-level security applies). Answers {"outcome", and
-- with ok "service"}: ok; not_found (the case is not visible); no_grant (visible, but the
-- caller holds no active grant to write with); provider (no such agency); referral (not a
-- referral of this case the caller's agency is party to); dates (it ends before it starts).
CREATE FUNCTION trm_service_record(p_id uuid, p_case uuid, p_type text, p_status text,
                                   p_provider uuid, p_referral uuid, p_referred date,
                                   p_started date, p_ended date, p_sealed text,
                                   p_category text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s case_services;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM cases WHERE id = p_case) THEN
        RETURN jsonb_build_object('outcome', 'not_found');
    END IF;
    IF p_provider IS NOT NULL AND NOT EXISTS (SELECT 1 FROM agencies WHERE id = p_provider) THEN
        RETURN jsonb_build_object('outcome', 'provider');
    END IF;
    IF p_referral IS NOT NULL AND NOT EXISTS (SELECT 1 FROM referrals
                                              WHERE id = p_referral AND case_id = p_case) THEN
        RETURN jsonb_build_object('outcome', 'referral');
    END IF;
    IF p_ended < p_started THEN
        RETURN jsonb_build_object('outcome', 'dates');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM case_grants g WHERE g.case_id = p_case
                   AND g.agency_id = trm_ctx_agency() AND g.ended_at IS NULL
                   AND (g.expires_at IS NULL OR g.expires_at > now())
                   AND cardinality(g.categories) > 0) THEN
        RETURN jsonb_build_object('outcome', 'no_grant');
    END IF;
    INSERT INTO case_services (id, case_id, agency_id, type, provider_agency_id, referral_id,
                               status, referred_on, started_on, ended_on, note_category,
                               sealed_note, recorded_by)
    VALUES (p_id, p_case, trm_ctx_agency(), p_type, coalesce(p_provider, trm_ctx_agency()),
            p_referral, p_status, p_referred, p_started, p_ended,
            CASE WHEN p_sealed IS NOT NULL THEN p_category END, decode(p_sealed, 'hex'),
            trm_ctx_user())
    RETURNING * INTO s;
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_case, 'service_recorded', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('service_id', s.id, 'type', s.type, 'status', s.status));
    RETURN jsonb_build_object('outcome', 'ok', 'service', trm_service_json(s));
END;
$$;
GRANT EXECUTE ON FUNCTION trm_service_record TO trm_app;

-- Changes a service its agency recorded, at version p_version. p_fields names the members
-- given (status, provider_agency_id, referred_on, started_on, ended_on, note); a note given
-- as NULL removes it. Answers as trm_service_record, and: stale, not_writer (another
-- agency's), dates (ended_on before started_on once changed).
CREATE FUNCTION trm_service_change(p_case uuid, p_id uuid, p_version integer, p_fields text[],
                                   p_status text, p_provider uuid, p_referred date,
                                   p_started date, p_ended date, p_sealed text,
                                   p_category text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s case_services;
BEGIN
    -- Seen first, then locked: FOR UPDATE sees only rows the caller may update (the
    -- writer's), and another agency is told it is not the writer, not that nothing is there.
    SELECT * INTO s FROM case_services WHERE id = p_id AND case_id = p_case;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('outcome', 'not_found');
    END IF;
    IF s.agency_id <> trm_ctx_agency() THEN
        RETURN jsonb_build_object('outcome', 'not_writer');
    END IF;
    SELECT * INTO s FROM case_services WHERE id = p_id FOR UPDATE;
    IF s.version <> p_version THEN
        RETURN jsonb_build_object('outcome', 'stale');
    END IF;
    IF 'provider_agency_id' = ANY (p_fields) AND p_provider IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM agencies WHERE id = p_provider) THEN
        RETURN jsonb_build_object('outcome', 'provider');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM case_grants g WHERE g.case_id = p_case
                   AND g.agency_id = trm_ctx_agency() AND g.ended_at IS NULL
                   AND (g.expires_at IS NULL OR g.expires_at > now())
                   AND cardinality(g.categories) > 0) THEN
        RETURN jsonb_build_object('outcome', 'no_grant');
    END IF;
    IF 'status' = ANY (p_fields) THEN s.status := p_status; END IF;
    IF 'provider_agency_id' = ANY (p_fields) THEN s.provider_agency_id := p_provider; END IF;
    IF 'referred_on' = ANY (p_fields) THEN s.referred_on := p_referred; END IF;
    IF 'started_on' = ANY (p_fields) THEN s.started_on := p_started; END IF;
    IF 'ended_on' = ANY (p_fields) THEN s.ended_on := p_ended; END IF;
    IF 'note' = ANY (p_fields) THEN
        s.sealed_note := decode(p_sealed, 'hex');
        s.note_category := CASE WHEN p_sealed IS NOT NULL THEN p_category END;
    END IF;
    IF s.ended_on < s.started_on THEN
        RETURN jsonb_build_object('outcome', 'dates');
    END IF;
    UPDATE case_services SET status = s.status, provider_agency_id = s.provider_agency_id,
                             referred_on = s.referred_on, started_on = s.started_on,
                             ended_on = s.ended_on, sealed_note = s.sealed_note,
                             note_category = s.note_category, version = version + 1,
                             updated_at = now()
    WHERE id = p_id RETURNING * INTO s;
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_case, 'service_updated', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('service_id', s.id, 'type', s.type, 'status', s.status,
                               'fields', to_jsonb(p_fields)));
    RETURN jsonb_build_object('outcome', 'ok', 'service', trm_service_json(s));
END;
$$;
GRANT EXECUTE ON FUNCTION trm_service_change TO trm_app;

-- Records an assistance plan, its goals sealed (as trm_service_record, without provider
-- and referral).
CREATE FUNCTION trm_plan_record(p_id uuid, p_case uuid, p_review date, p_sealed text,
                                p_category text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p case_plans;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM cases WHERE id = p_case) THEN
        RETURN jsonb_build_object('outcome', 'not_found');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM case_grants g WHERE g.case_id = p_case
                   AND g.agency_id = trm_ctx_agency() AND g.ended_at IS NULL
                   AND (g.expires_at IS NULL OR g.expires_at > now())
                   AND p_category = ANY (g.categories)) THEN
        RETURN jsonb_build_object('outcome', 'no_grant');
    END IF;
    INSERT INTO case_plans (id, case_id, agency_id, review_on, category, sealed, recorded_by)
    VALUES (p_id, p_case, trm_ctx_agency(), p_review, p_category, decode(p_sealed, 'hex'),
            trm_ctx_user())
    RETURNING * INTO p;
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_case, 'plan_recorded', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('plan_id', p.id, 'review_on', p.review_on));
    RETURN jsonb_build_object('outcome', 'ok', 'plan', trm_plan_json(p));
END;
$$;
GRANT EXECUTE ON FUNCTION trm_plan_record TO trm_app;

-- Revises a plan its agency recorded (goals, review date, status), at version p_version;
-- p_sealed NULL keeps the goals. Outcomes as trm_service_change.
CREATE FUNCTION trm_plan_change(p_case uuid, p_id uuid, p_version integer, p_review date,
                                p_status text, p_sealed text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p case_plans;
BEGIN
    -- Seen first, then locked: FOR UPDATE sees only rows the caller may update (the
    -- writer's), and another agency is told it is not the writer, not that nothing is there.
    SELECT * INTO p FROM case_plans WHERE id = p_id AND case_id = p_case;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('outcome', 'not_found');
    END IF;
    IF p.agency_id <> trm_ctx_agency() THEN
        RETURN jsonb_build_object('outcome', 'not_writer');
    END IF;
    SELECT * INTO p FROM case_plans WHERE id = p_id FOR UPDATE;
    IF p.version <> p_version THEN
        RETURN jsonb_build_object('outcome', 'stale');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM case_grants g WHERE g.case_id = p_case
                   AND g.agency_id = trm_ctx_agency() AND g.ended_at IS NULL
                   AND (g.expires_at IS NULL OR g.expires_at > now())
                   AND p.category = ANY (g.categories)) THEN
        RETURN jsonb_build_object('outcome', 'no_grant');
    END IF;
    UPDATE case_plans SET review_on = coalesce(p_review, review_on),
                          status = coalesce(p_status, status),
                          sealed = coalesce(decode(p_sealed, 'hex'), sealed),
                          version = version + 1, updated_at = now()
    WHERE id = p_id RETURNING * INTO p;
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_case, 'plan_updated', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('plan_id', p.id, 'review_on', p.review_on, 'status', p.status,
                               'goals_revised', p_sealed IS NOT NULL));
    RETURN jsonb_build_object('outcome', 'ok', 'plan', trm_plan_json(p));
END;
$$;
GRANT EXECUTE ON FUNCTION trm_plan_change TO trm_app;

GRANT SELECT, INSERT ON case_services, case_plans TO trm_app;
GRANT UPDATE (status, provider_agency_id, referred_on, started_on, ended_on, note_category,
              sealed_note, version, updated_at) ON case_services TO trm_app;
GRANT UPDATE (review_on, status, sealed, version, updated_at) ON case_plans TO trm_app;
GRANT SELECT ON notifications TO trm_app;
GRANT SELECT, INSERT ON notification_reads TO trm_app;
GRANT SELECT, INSERT, UPDATE ON agency_webhooks TO trm_app;
GRANT SELECT (id, agency_id, kind, status, attempts, next_attempt_at, last_error, created_at,
              delivered_at) ON webhook_events TO trm_app;

-- ---------------------------------------------------------------------------------------
-- Erasure and transfers. Whatever deletes a case's data key (erasure by the owner,
-- retention, a transfer out to a peer) takes the sealed notes and goals with it.
CREATE FUNCTION trm_case_keys_forget_casework() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    UPDATE case_services SET sealed_note = NULL, note_category = NULL
    WHERE case_id = OLD.case_id AND sealed_note IS NOT NULL;
    UPDATE case_plans SET sealed = NULL WHERE case_id = OLD.case_id AND sealed IS NOT NULL;
    RETURN NULL;
END;
$$;
CREATE TRIGGER case_keys_forget_casework AFTER DELETE ON case_keys
    FOR EACH ROW EXECUTE FUNCTION trm_case_keys_forget_casework();

-- A transfer re-keys the case (0016): its new custodian seals again what the consented
-- categories cover. The functions as they stood are wrapped, not rewritten, so that other
-- migrations' changes to them stand: the material lists service notes and plans too, and
-- the re-key stores their new ciphertexts (or drops them when their category was not
-- consented).
ALTER FUNCTION trm_case_rekey_material(uuid, text[]) RENAME TO trm_case_rekey_material_before_0026;
CREATE FUNCTION trm_case_rekey_material(p_case uuid, p_categories text[]) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_set(m, '{items}', (m -> 'items') || coalesce((
        SELECT jsonb_agg(i) FROM (
            SELECT jsonb_build_object('kind', 'service_note', 'id', s.id,
                                      'category', s.note_category,
                                      'sealed', encode(s.sealed_note, 'hex')) AS i
            FROM case_services s WHERE s.case_id = p_case AND s.sealed_note IS NOT NULL
              AND s.note_category = ANY (p_categories)
            UNION ALL
            SELECT jsonb_build_object('kind', 'plan', 'id', p.id, 'category', p.category,
                                      'sealed', encode(p.sealed, 'hex'))
            FROM case_plans p WHERE p.case_id = p_case AND p.sealed IS NOT NULL
              AND p.category = ANY (p_categories)) x), '[]'))
    FROM trm_case_rekey_material_before_0026(p_case, p_categories) m
$$;
REVOKE ALL ON FUNCTION trm_case_rekey_material(uuid, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION trm_case_rekey_material_before_0026(uuid, text[]) FROM PUBLIC;

ALTER FUNCTION trm_case_rekey(uuid, uuid, integer, text, text, jsonb)
    RENAME TO trm_case_rekey_before_0026;
REVOKE ALL ON FUNCTION trm_case_rekey_before_0026(uuid, uuid, integer, text, text, jsonb)
    FROM PUBLIC, trm_app;
CREATE FUNCTION trm_case_rekey(p_case uuid, p_referral uuid, p_old_version integer,
                               p_kek_id text, p_wrapped text, p_items jsonb)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    cats text[];
BEGIN
    IF NOT trm_case_rekey_before_0026(p_case, p_referral, p_old_version, p_kek_id, p_wrapped,
                                      p_items) THEN
        RETURN false;
    END IF;
    SELECT categories INTO cats FROM referrals WHERE id = p_referral;
    UPDATE case_services s SET sealed_note = x.sealed,
                               note_category = CASE WHEN x.sealed IS NULL THEN NULL
                                                    ELSE s.note_category END
    FROM (SELECT s2.id, (SELECT decode(i ->> 'sealed', 'hex')
                         FROM jsonb_array_elements(p_items) i
                         WHERE i ->> 'kind' = 'service_note' AND (i ->> 'id')::uuid = s2.id
                           AND s2.note_category = ANY (cats)) AS sealed
          FROM case_services s2 WHERE s2.case_id = p_case AND s2.sealed_note IS NOT NULL) x
    WHERE s.id = x.id;
    UPDATE case_plans p SET sealed = (
        SELECT decode(i ->> 'sealed', 'hex') FROM jsonb_array_elements(p_items) i
        WHERE i ->> 'kind' = 'plan' AND (i ->> 'id')::uuid = p.id AND p.category = ANY (cats))
    WHERE p.case_id = p_case AND p.sealed IS NOT NULL;
    RETURN true;
END;
$$;
REVOKE ALL ON FUNCTION trm_case_rekey(uuid, uuid, integer, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_case_rekey(uuid, uuid, integer, text, text, jsonb) TO trm_app;

-- ---------------------------------------------------------------------------------------
-- Tasks

-- When a peer refused a delivery for good (a task for a while after).
ALTER TABLE federation_packages ADD COLUMN rejected_at timestamptz;
UPDATE federation_packages SET rejected_at = created_at WHERE status = 'rejected';
CREATE INDEX federation_packages_rejected ON federation_packages (rejected_at)
    WHERE status = 'rejected';
CREATE FUNCTION trm_federation_packages_rejected() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'rejected' AND OLD.status IS DISTINCT FROM 'rejected' THEN
        NEW.rejected_at := now();
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER federation_packages_rejected BEFORE UPDATE OF status ON federation_packages
    FOR EACH ROW EXECUTE FUNCTION trm_federation_packages_rejected();
GRANT SELECT (rejected_at) ON federation_packages TO trm_app;

-- The owner of a case's tracks, kept by the database (never by the caller): the tasks query
-- reads an agency's deadlines from an index of its own, in due order, and stops at a page.
ALTER TABLE case_tracks ADD COLUMN owner_agency_id uuid;
UPDATE case_tracks t SET owner_agency_id = c.owner_agency_id FROM cases c WHERE c.id = t.case_id;
ALTER TABLE case_tracks ALTER COLUMN owner_agency_id SET NOT NULL;
CREATE INDEX case_tracks_owner_due ON case_tracks (owner_agency_id, due_at, case_id,
                                                  track COLLATE "C") WHERE due_at IS NOT NULL;
CREATE FUNCTION trm_case_tracks_owner() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    NEW.owner_agency_id := (SELECT c.owner_agency_id FROM cases c WHERE c.id = NEW.case_id);
    RETURN NEW;
END;
$$;
CREATE TRIGGER case_tracks_owner BEFORE INSERT OR UPDATE ON case_tracks
    FOR EACH ROW EXECUTE FUNCTION trm_case_tracks_owner();
CREATE FUNCTION trm_cases_tracks_follow() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    UPDATE case_tracks SET owner_agency_id = NEW.owner_agency_id WHERE case_id = NEW.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER cases_tracks_follow AFTER UPDATE OF owner_agency_id ON cases
    FOR EACH ROW WHEN (NEW.owner_agency_id IS DISTINCT FROM OLD.owner_agency_id)
    EXECUTE FUNCTION trm_cases_tracks_follow();

-- A day in words, for a task's sentence ("2 October 2026").
CREATE FUNCTION trm_day_text(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE
AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'FMDD FMMonth YYYY') $$;

-- What the caller's agency has to do, computed from the data: one query, each branch on its
-- own index, under the caller's row-level security (a plain SQL function, inlined by the
-- planner). Due before p_*_to (each kind its own horizon), from p_from; p_kind one kind
-- (NULL: all); p_assignee: only cases assigned to that user; after (p_after_due,
-- p_after_key) in (due_at, key) order; at most p_limit. due_at with its microseconds (what a
-- cursor holds); key names the task (its kind and what it is about) and is unique.
--   sop_deadline      a step of a track of a case the agency owns is due (or overdue)
--   consent_expiring  a consent of such a case ends soon
--   offer_received    an offer to the agency awaits its answer
--   offer_expiring    an offer the agency made ends soon without an answer
--   plan_review       an assistance plan the agency wrote is due for review
--   delivery_rejected a peer refused for good a package of a referral the agency is party
--                     to (shown for a while after, from p_rejected_since)
CREATE FUNCTION trm_tasks(p_kind text, p_from timestamptz, p_deadline_to timestamptz,
                          p_consent_to timestamptz, p_received_to timestamptz,
                          p_offer_to timestamptz, p_plan_to timestamptz,
                          p_rejected_since timestamptz, p_assignee uuid,
                          p_after_due timestamptz, p_after_key text, p_limit integer)
RETURNS TABLE (kind text, case_id uuid, case_reference text, referral_id uuid,
               consent_id uuid, plan_id uuid, track text, due_at timestamptz, why text,
               key text)
LANGUAGE sql STABLE AS $$
    -- Each branch takes at most a page after the cursor, in (due_at, key) order, so a branch
    -- with many candidates reads them in its index's order and stops; the page is the first
    -- p_limit of their union. The sentence is made for the page only (w1..w4 and since: the
    -- words it needs).
    SELECT t.kind, t.case_id, t.case_reference, t.referral_id, t.consent_id, t.plan_id,
           t.track, t.due_at,
           CASE t.kind
           WHEN 'sop_deadline' THEN
               format('The %s track has been in the state "%s" since %s; the SOP gives it until %s.',
                      t.w1, replace(t.w2, '_', ' '), trm_day_text(t.since), trm_day_text(t.due_at))
           WHEN 'consent_expiring' THEN
               format('The %s consent ends on %s: renew it with the person, or what rests on it ends then.',
                      replace(t.w1, '_', ' '), trm_day_text(t.due_at))
           WHEN 'offer_received' THEN
               format('%s offers a %s for %s and awaits your answer; the offer ends on %s.',
                      t.w1, t.w2, replace(t.w3, '_', ' '), trm_day_text(t.due_at))
           WHEN 'offer_expiring' THEN
               format('Your offer of a %s for %s to %s has no answer yet and ends on %s.',
                      t.w2, replace(t.w3, '_', ' '), t.w1, trm_day_text(t.due_at))
           WHEN 'plan_review' THEN
               format('The assistance plan is due for review on %s: revise it with the person and set the next review.',
                      trm_day_text(t.due_at))
           ELSE
               format('%s refused for good the %s package of this %s (%s): ask its operator, and answer or withdraw here as needed.',
                      t.w1, t.w2, t.w3, coalesce(t.w4, 'refused'))
           END,
           t.key
    FROM (
        (SELECT 'sop_deadline'::text AS kind, c.id AS case_id, c.reference AS case_reference,
                NULL::uuid AS referral_id, NULL::uuid AS consent_id, NULL::uuid AS plan_id,
                ct.track AS track, ct.due_at AS due_at,
                ('sop_deadline:' || c.id || ':' || ct.track) COLLATE "C" AS key,
                ct.track AS w1, ct.state AS w2, NULL::text AS w3, NULL::text AS w4,
                ct.entered_at AS since
         -- The agency's deadlines in due order from its own index (the owner is kept on
         -- the tracks by the database), a page of them unless only assigned cases count.
         FROM (SELECT * FROM case_tracks x
               WHERE (p_kind IS NULL OR p_kind = 'sop_deadline')
                 AND x.owner_agency_id = trm_ctx_agency() AND x.due_at IS NOT NULL
                 AND x.due_at < p_deadline_to AND (p_from IS NULL OR x.due_at >= p_from)
                 AND (p_after_due IS NULL
                      OR (x.due_at, ('sop_deadline:' || x.case_id || ':' || x.track) COLLATE "C")
                         > (p_after_due, p_after_key))
               ORDER BY x.due_at, x.case_id, x.track COLLATE "C"
               LIMIT CASE WHEN p_assignee IS NULL THEN p_limit END) ct
         JOIN cases c ON c.id = ct.case_id
         WHERE c.owner_agency_id = trm_ctx_agency() AND c.transferred_out_at IS NULL
           AND (p_assignee IS NULL OR c.assigned_to = p_assignee)
         ORDER BY ct.due_at, ct.case_id, ct.track COLLATE "C" LIMIT p_limit)
        UNION ALL
        (SELECT 'consent_expiring', c.id, c.reference, NULL, k.id, NULL, NULL, k.expires_at,
                ('consent_expiring:' || k.id) COLLATE "C", k.kind, NULL, NULL, NULL, NULL
         FROM consents k JOIN cases c ON c.id = k.case_id
         WHERE (p_kind IS NULL OR p_kind = 'consent_expiring')
           AND k.expires_at IS NOT NULL AND k.withdrawn_at IS NULL
           AND k.expiry_processed_at IS NULL
           AND k.expires_at > now() AND k.expires_at < p_consent_to
           AND (p_from IS NULL OR k.expires_at >= p_from)
           AND c.owner_agency_id = trm_ctx_agency()
           AND (p_assignee IS NULL OR c.assigned_to = p_assignee)
           AND (p_after_due IS NULL OR (k.expires_at, ('consent_expiring:' || k.id) COLLATE "C")
                                       > (p_after_due, p_after_key))
         ORDER BY k.expires_at, 9 LIMIT p_limit)
        UNION ALL
        (SELECT 'offer_received', r.case_id, coalesce(c.reference, r.remote_case_reference),
                r.id, NULL, NULL, NULL, r.expires_at, ('offer_received:' || r.id) COLLATE "C",
                a.name, r.kind, r.purpose, NULL, NULL
         FROM referrals r JOIN agencies a ON a.id = r.from_agency_id
         LEFT JOIN cases c ON c.id = r.case_id
         WHERE (p_kind IS NULL OR p_kind = 'offer_received')
           AND r.to_agency_id = trm_ctx_agency() AND r.status = 'offered'
           AND r.expires_at > now() AND r.expires_at < p_received_to
           AND (p_from IS NULL OR r.expires_at >= p_from)
           AND (p_assignee IS NULL OR c.assigned_to = p_assignee)
           AND (p_after_due IS NULL OR (r.expires_at, ('offer_received:' || r.id) COLLATE "C")
                                       > (p_after_due, p_after_key))
         ORDER BY r.expires_at, 9 LIMIT p_limit)
        UNION ALL
        (SELECT 'offer_expiring', r.case_id, c.reference, r.id, NULL, NULL, NULL, r.expires_at,
                ('offer_expiring:' || r.id) COLLATE "C", a.name, r.kind, r.purpose, NULL, NULL
         FROM referrals r JOIN agencies a ON a.id = r.to_agency_id
         LEFT JOIN cases c ON c.id = r.case_id
         WHERE (p_kind IS NULL OR p_kind = 'offer_expiring')
           AND r.from_agency_id = trm_ctx_agency() AND r.status = 'offered'
           AND r.expires_at > now() AND r.expires_at < p_offer_to
           AND (p_from IS NULL OR r.expires_at >= p_from)
           AND (p_assignee IS NULL OR c.assigned_to = p_assignee)
           AND (p_after_due IS NULL OR (r.expires_at, ('offer_expiring:' || r.id) COLLATE "C")
                                       > (p_after_due, p_after_key))
         ORDER BY r.expires_at, 9 LIMIT p_limit)
        UNION ALL
        (SELECT 'plan_review', c.id, c.reference, NULL, NULL, p.id, NULL,
                p.review_on::timestamp AT TIME ZONE 'UTC', ('plan_review:' || p.id) COLLATE "C",
                NULL, NULL, NULL, NULL, NULL
         FROM case_plans p JOIN cases c ON c.id = p.case_id
         WHERE (p_kind IS NULL OR p_kind = 'plan_review')
           AND p.agency_id = trm_ctx_agency() AND p.status = 'active'
           AND p.review_on <= (p_plan_to AT TIME ZONE 'UTC')::date
           AND (p.review_on::timestamp AT TIME ZONE 'UTC') < p_plan_to
           AND (p_from IS NULL OR (p.review_on::timestamp AT TIME ZONE 'UTC') >= p_from)
           AND (p_assignee IS NULL OR c.assigned_to = p_assignee)
           AND EXISTS (SELECT 1 FROM case_grants g WHERE g.case_id = p.case_id
                       AND g.agency_id = trm_ctx_agency() AND g.ended_at IS NULL
                       AND (g.expires_at IS NULL OR g.expires_at > now()) OFFSET 0)
           AND (p_after_due IS NULL OR (p.review_on::timestamp AT TIME ZONE 'UTC',
                                        ('plan_review:' || p.id) COLLATE "C") > (p_after_due, p_after_key))
         ORDER BY p.review_on, 9 LIMIT p_limit)
        UNION ALL
        (SELECT 'delivery_rejected', r.case_id, coalesce(c.reference, r.remote_case_reference),
                r.id, NULL, NULL, NULL, f.rejected_at, ('delivery_rejected:' || f.package_id) COLLATE "C",
                f.peer_instance, f.type, r.kind, f.last_error, NULL
         FROM federation_packages f JOIN referrals r ON r.id = f.referral_id
         LEFT JOIN cases c ON c.id = r.case_id
         WHERE (p_kind IS NULL OR p_kind = 'delivery_rejected')
           AND f.status = 'rejected' AND f.direction = 'out'
           AND f.rejected_at >= p_rejected_since AND f.rejected_at < p_received_to
           AND (p_from IS NULL OR f.rejected_at >= p_from)
           AND (p_assignee IS NULL OR c.assigned_to = p_assignee)
           AND (p_after_due IS NULL OR (f.rejected_at, ('delivery_rejected:' || f.package_id) COLLATE "C")
                                       > (p_after_due, p_after_key))
         ORDER BY f.rejected_at, 9 LIMIT p_limit)
        ORDER BY 8, 9 LIMIT p_limit
    ) t
    ORDER BY t.due_at, t.key
$$;
GRANT EXECUTE ON FUNCTION trm_tasks TO trm_app;

-- ---------------------------------------------------------------------------------------
-- Statistics: persons who received each type of service (ongoing or completed), counted as
-- the other tables count them (trm_stats_person_key), for cases of a country identified in
-- [p_from, p_to]. The types overlap (a person gets several): trmd applies primary
-- suppression.
CREATE FUNCTION trm_stats_services(p_country text, p_from date, p_to date)
RETURNS TABLE (type text, persons bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF NOT trm_stats_allowed(coalesce(p_country, '')) AND NOT trm_ctx_cross_border() THEN
        RAISE EXCEPTION 'statistics of another country' USING ERRCODE = 'TR404';
    END IF;
    RETURN QUERY
    WITH types (name) AS (VALUES ('accommodation'), ('medical'), ('psychological'), ('legal'),
                                 ('interpretation'), ('education'), ('employment'),
                                 ('financial'), ('return_reception')),
    provided AS (
        SELECT s.type, trm_stats_person_key(c) AS person
        FROM case_services s JOIN cases c ON c.id = s.case_id
        WHERE s.status IN ('ongoing', 'completed')
          AND (p_country IS NULL OR c.country = p_country)
          AND (p_from IS NULL OR c.identified_month >= p_from)
          AND (p_to IS NULL OR c.identified_month <= p_to))
    SELECT t.name, count(DISTINCT p.person)
    FROM types t LEFT JOIN provided p ON p.type = t.name
    GROUP BY t.name ORDER BY t.name;
END;
$$;
REVOKE ALL ON FUNCTION trm_stats_services(text, date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_stats_services(text, date, date) TO trm_app;
