-- Documents of a case (issue 19): consent forms, identity documents, medical and court papers,
-- kept sealed in chunks, each document under a key of its own that is itself sealed under the
-- case's data key. docs/documents.md says why and how.
--
-- * A document has a kind and one of the five categories; the grants of its category decide
--   who sees it, exactly as for the case's sealed fields (case_personal).
-- * Its file name and SHA-256 are sealed (sealed_meta, under the case key: label documents,
--   name the document's id); its key too (sealed_key: documents, "<id>.key"). Clear: ids,
--   kind, category, media type, size and times.
-- * The content is sealed in chunks (document_chunks) under the document's key, each bound to
--   the document's id, its position and whether it is the last (docs/encryption.md).
-- * An upload is staged: its row and chunks are written while the body streams in, visible to
--   nobody but its uploader, and become the case's document in one transaction at the end
--   (trm_document_store). An upload that never ends is deleted (trm_documents_abandoned_drop).
-- * Erasing a case's personal data deletes its documents and their chunks with the key; a
--   transfer keeps the documents of the consented categories (their keys sealed again under
--   the new case key) and deletes the others.
-- * Below the documents: the offer summary's interpreter need (person.contact.communication).

CREATE TABLE documents (
    id          uuid PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES cases (id),
    category    text NOT NULL CHECK (category = ANY (trm_categories())),
    kind        text NOT NULL CHECK (kind IN ('consent_form', 'identity_document', 'medical',
                                             'court', 'other')),
    media_type  text NOT NULL CHECK (media_type IN ('application/pdf', 'image/jpeg',
                                                   'image/png', 'text/plain')),
    -- The agency and user that uploaded it (no user: received from a peer instance).
    agency_id   uuid NOT NULL REFERENCES agencies (id),
    uploaded_by uuid REFERENCES users (id),
    started_at  timestamptz NOT NULL DEFAULT now(),
    -- NULL while the upload is under way: then nobody but its uploader sees the row.
    uploaded_at timestamptz,
    size        bigint CHECK (size > 0),
    chunks      integer CHECK (chunks > 0),
    sealed_key  bytea NOT NULL,
    sealed_meta bytea,
    CHECK ((uploaded_at IS NULL) = (sealed_meta IS NULL)),
    CHECK ((uploaded_at IS NULL) = (size IS NULL)),
    CHECK ((uploaded_at IS NULL) = (chunks IS NULL))
);
CREATE INDEX documents_case ON documents (case_id, uploaded_at, id);
CREATE INDEX documents_staged ON documents (started_at) WHERE uploaded_at IS NULL;

CREATE TABLE document_chunks (
    document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    seq         integer NOT NULL CHECK (seq >= 0),
    sealed      bytea NOT NULL,
    PRIMARY KEY (document_id, seq)
);
-- Ciphertext does not compress: store it out of line without trying.
ALTER TABLE document_chunks ALTER COLUMN sealed SET STORAGE EXTERNAL;

ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
ALTER TABLE document_chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE document_chunks FORCE ROW LEVEL SECURITY;

-- A stored document: an active grant of its category (as case_personal). A staged upload:
-- its uploader only.
CREATE POLICY documents_read ON documents FOR SELECT TO trm_app
    USING (trm_ctx_role() IN ('caseworker', 'coordinator') AND (
        (documents.uploaded_at IS NULL AND documents.uploaded_by = trm_ctx_user())
        OR (documents.uploaded_at IS NOT NULL AND EXISTS (
            SELECT 1 FROM case_grants g
            WHERE g.case_id = documents.case_id AND g.agency_id = trm_ctx_agency()
              AND g.ended_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())
              AND documents.category = ANY (g.categories) OFFSET 0))));
-- The uploader gives up its own staged upload (its chunks go with it).
CREATE POLICY documents_abort ON documents FOR DELETE TO trm_app
    USING (documents.uploaded_at IS NULL AND documents.uploaded_by = trm_ctx_user());
-- Chunks: those of a stored document of a category the caller holds an active grant of,
-- written only into the caller's own staged upload.
CREATE POLICY document_chunks_read ON document_chunks FOR SELECT TO trm_app
    USING (trm_ctx_role() IN ('caseworker', 'coordinator') AND EXISTS (
        SELECT 1 FROM case_grants g, documents d
        WHERE d.id = document_chunks.document_id AND d.uploaded_at IS NOT NULL
          AND g.case_id = d.case_id AND g.agency_id = trm_ctx_agency()
          AND g.ended_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())
          AND d.category = ANY (g.categories) OFFSET 0));
CREATE POLICY document_chunks_write ON document_chunks FOR INSERT TO trm_app
    WITH CHECK (EXISTS (SELECT 1 FROM documents d
                        WHERE d.id = document_chunks.document_id AND d.uploaded_at IS NULL
                          AND d.uploaded_by = trm_ctx_user()));
CREATE POLICY documents_maintenance ON documents TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY document_chunks_maintenance ON document_chunks TO CURRENT_USER
    USING (true) WITH CHECK (true);

GRANT SELECT, DELETE ON documents TO trm_app;
GRANT SELECT, INSERT ON document_chunks TO trm_app;

-- Starts an upload: the staged row, for a caller holding an active grant of the category
-- on a case whose personal data is not erased, when the case's stored documents and the
-- declared size (0: unknown) stay within p_case_limit bytes. Answers ok, not_found (no such
-- case for the caller), erased, not_granted or case_full; nothing is written but for ok.
CREATE FUNCTION trm_document_begin(p_id uuid, p_case uuid, p_category text, p_kind text,
                                   p_media_type text, p_sealed_key text, p_declared bigint,
                                   p_case_limit bigint)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    c cases;
BEGIN
    PERFORM trm_require_caseworker();
    SELECT * INTO c FROM cases WHERE id = p_case;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM case_grants g WHERE g.case_id = p_case
                                AND g.agency_id = trm_ctx_agency()) THEN
        RETURN 'not_found';
    END IF;
    IF c.personal_data_erased_at IS NOT NULL THEN
        RETURN 'erased';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM case_grants g
                   WHERE g.case_id = p_case AND g.agency_id = trm_ctx_agency()
                     AND g.ended_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())
                     AND p_category = ANY (g.categories)) THEN
        RETURN 'not_granted';
    END IF;
    IF (SELECT coalesce(sum(size), 0) FROM documents
        WHERE case_id = p_case AND uploaded_at IS NOT NULL) + p_declared > p_case_limit THEN
        RETURN 'case_full';
    END IF;
    INSERT INTO documents (id, case_id, category, kind, media_type, agency_id, uploaded_by,
                           sealed_key)
    VALUES (p_id, p_case, p_category, p_kind, p_media_type, trm_ctx_agency(), trm_ctx_user(),
            decode(p_sealed_key, 'hex'));
    RETURN 'ok';
END;
$$;
REVOKE ALL ON FUNCTION trm_document_begin FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_document_begin TO trm_app;

-- The document's JSON as the API shows it, from its clear columns (the handler adds what it
-- opens: file_name, sha256). uploaded_at has its microseconds: a list's cursor names it.
CREATE FUNCTION trm_document_json(d documents) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', d.id, 'case_id', d.case_id, 'category', d.category, 'kind', d.kind,
        'media_type', d.media_type, 'size', d.size, 'uploaded_by', d.uploaded_by,
        'agency_id', d.agency_id,
        'uploaded_at', to_char(d.uploaded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
$$;

-- Ends an upload: the staged document of the caller becomes the case's, in one step, when
-- every chunk is there, the caller still holds an active grant of its category, the case's
-- personal data is not erased, and the case's documents stay within p_case_limit bytes (the
-- case is locked, so two uploads cannot both pass). Answers {"outcome": ok | not_found |
-- erased | not_granted | case_full | incomplete, "document": {...}}; nothing is written but
-- for ok.
CREATE FUNCTION trm_document_store(p_id uuid, p_size bigint, p_chunks integer,
                                   p_sealed_meta text, p_case_limit bigint)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    d documents;
    c cases;
BEGIN
    PERFORM trm_require_caseworker();
    SELECT * INTO d FROM documents
    WHERE id = p_id AND uploaded_at IS NULL AND uploaded_by = trm_ctx_user();
    IF NOT FOUND THEN
        RETURN jsonb_build_object('outcome', 'not_found');
    END IF;
    SELECT * INTO c FROM cases WHERE id = d.case_id FOR UPDATE;
    IF c.personal_data_erased_at IS NOT NULL THEN
        RETURN jsonb_build_object('outcome', 'erased');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM case_grants g
                   WHERE g.case_id = d.case_id AND g.agency_id = trm_ctx_agency()
                     AND g.ended_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())
                     AND d.category = ANY (g.categories)) THEN
        RETURN jsonb_build_object('outcome', 'not_granted');
    END IF;
    IF (SELECT count(*) FROM document_chunks WHERE document_id = p_id) <> p_chunks
       OR NOT EXISTS (SELECT 1 FROM document_chunks WHERE document_id = p_id
                      AND seq = p_chunks - 1) THEN
        RETURN jsonb_build_object('outcome', 'incomplete');
    END IF;
    IF (SELECT coalesce(sum(size), 0) FROM documents
        WHERE case_id = d.case_id AND uploaded_at IS NOT NULL) + p_size > p_case_limit THEN
        RETURN jsonb_build_object('outcome', 'case_full');
    END IF;
    UPDATE documents SET uploaded_at = now(), size = p_size, chunks = p_chunks,
                         sealed_meta = decode(p_sealed_meta, 'hex')
    WHERE id = p_id RETURNING * INTO d;
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (d.case_id, 'document_added', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('document_id', d.id, 'kind', d.kind, 'category', d.category,
                               'media_type', d.media_type, 'size', d.size));
    RETURN jsonb_build_object('outcome', 'ok', 'document', trm_document_json(d));
END;
$$;
REVOKE ALL ON FUNCTION trm_document_store FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_document_store TO trm_app;

-- Deletes a stored document of a case the caller's agency owns, with a reason code: the row
-- and its chunks go (its key and content with them); the timeline records the deletion
-- (ids and codes only). Answers ok, not_found or not_owner.
CREATE FUNCTION trm_document_delete(p_case uuid, p_id uuid, p_reason text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    d documents;
BEGIN
    PERFORM trm_require_caseworker();
    IF p_reason NOT IN ('uploaded_in_error', 'superseded', 'requested_by_person',
                        'court_order', 'other') THEN
        RAISE EXCEPTION 'document deletion reason' USING ERRCODE = 'check_violation';
    END IF;
    -- Only a document the caller sees (a grant of its category) can be named at all.
    SELECT * INTO d FROM documents x
    WHERE x.id = p_id AND x.case_id = p_case AND x.uploaded_at IS NOT NULL AND EXISTS (
        SELECT 1 FROM case_grants g
        WHERE g.case_id = p_case AND g.agency_id = trm_ctx_agency()
          AND g.ended_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())
          AND x.category = ANY (g.categories))
    FOR UPDATE OF x;
    IF NOT FOUND THEN
        RETURN 'not_found';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM cases WHERE id = p_case AND owner_agency_id = trm_ctx_agency()) THEN
        RETURN 'not_owner';
    END IF;
    DELETE FROM documents WHERE id = p_id;
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_case, 'document_deleted', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('document_id', d.id, 'kind', d.kind, 'category', d.category,
                               'reason', p_reason));
    RETURN 'ok';
END;
$$;
REVOKE ALL ON FUNCTION trm_document_delete FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_document_delete TO trm_app;

-- Uploads started more than p_age_s seconds ago and never ended (trmd stopped or crashed
-- meanwhile) go, with their chunks. trmd's maintenance calls it; answers how many went.
CREATE FUNCTION trm_documents_abandoned_drop(p_age_s integer) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    WITH gone AS (DELETE FROM documents
                  WHERE uploaded_at IS NULL AND started_at < now() - make_interval(secs => p_age_s)
                  RETURNING 1)
    SELECT count(*)::integer FROM gone
$$;
REVOKE ALL ON FUNCTION trm_documents_abandoned_drop(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_documents_abandoned_drop(integer) TO trm_app;

-- ---------------------------------------------------------------------------------------
-- The offer summary's interpreter need (issue 19, "Language and communication";
-- docs/documents.md). A recipient sees before accepting whether an interpreter is needed and
-- in which languages, when the person consented to share their contact data with it: the
-- offer is made under a consent (which trm_referral_offer checked covers the offered
-- categories and the recipient) and contact is among the offered categories. The sender's
-- trmd seals that extract of person.contact.communication under the case key (referrals,
-- "<id>.interpreter") as it makes the offer; a party of the open offer reads it while the
-- consent stands, each read logged (contact, offer_summary). It goes with the case key:
-- erasure and a transfer's re-key clear it like the offer's note.
ALTER TABLE referrals ADD COLUMN sealed_interpreter bytea;

-- Stores the sealed extract on an offer the caller just made (true when it did).
CREATE FUNCTION trm_referral_interpreter_set(p_id uuid, p_sealed text) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    WITH s AS (
        UPDATE referrals SET sealed_interpreter = decode(p_sealed, 'hex')
        WHERE id = p_id AND status = 'offered' AND sealed_interpreter IS NULL
          AND from_agency_id = trm_ctx_agency() AND created_by = trm_ctx_user()
          AND trm_ctx_role() IN ('caseworker', 'coordinator')
          AND legal_basis = 'consent' AND 'contact' = ANY (categories)
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM s)
$$;
REVOKE ALL ON FUNCTION trm_referral_interpreter_set(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_referral_interpreter_set(uuid, text) TO trm_app;

-- The sealed extract of an open offer and the case key that opens it, for a party of the
-- offer (sender or recipient, before any grant), while its consent is in force and still
-- covers contact; the read is logged here. No row otherwise.
CREATE FUNCTION trm_referral_interpreter(p_id uuid, p_request_id text)
RETURNS TABLE (case_id uuid, kek_id text, dek_version integer, wrapped_dek text, sealed text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
#variable_conflict use_column
DECLARE
    r referrals;
BEGIN
    SELECT * INTO r FROM referrals x
    WHERE x.id = p_id AND x.status = 'offered' AND x.expires_at > now()
      AND x.sealed_interpreter IS NOT NULL
      AND x.legal_basis = 'consent' AND 'contact' = ANY (x.categories)
      AND trm_ctx_role() IN ('caseworker', 'coordinator')
      AND trm_ctx_agency() IN (x.from_agency_id, x.to_agency_id)
      AND EXISTS (SELECT 1 FROM consents k
                  WHERE k.id = x.consent_id AND k.case_id = x.case_id
                    AND k.withdrawn_at IS NULL AND k.given_at <= now()
                    AND (k.expires_at IS NULL OR k.expires_at > now())
                    AND 'contact' = ANY (k.categories));
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM case_keys k WHERE k.case_id = r.case_id) THEN
        RETURN;
    END IF;
    INSERT INTO access_log (user_id, agency_id, country, case_id, categories, purpose, request_id)
    VALUES (trm_ctx_user(), trm_ctx_agency(), trm_ctx_country(), r.case_id, '{contact}',
            'offer_summary', p_request_id);
    RETURN QUERY
    SELECT k.case_id, k.kek_id, k.dek_version, encode(k.wrapped_dek, 'hex'),
           encode(r.sealed_interpreter, 'hex')
    FROM case_keys k WHERE k.case_id = r.case_id;
END;
$$;
REVOKE ALL ON FUNCTION trm_referral_interpreter(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_referral_interpreter(uuid, text) TO trm_app;

-- An offer from a peer instance holds no case here: trmd opens the extract from the offer's
-- package (sealed to this instance; the person's contact data travelled in it) and logs the
-- recipient's read with this, against the sender's case id (as the handover log names it).
CREATE FUNCTION trm_referral_interpreter_logged(p_id uuid, p_request_id text) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    WITH l AS (
        INSERT INTO access_log (user_id, agency_id, country, case_id, categories, purpose,
                                request_id)
        SELECT trm_ctx_user(), trm_ctx_agency(), trm_ctx_country(), r.remote_case_id,
               '{contact}', 'offer_summary', p_request_id
        FROM referrals r
        WHERE r.id = p_id AND r.case_id IS NULL AND r.remote_case_id IS NOT NULL
          AND r.status = 'offered' AND r.expires_at > now()
          AND r.to_agency_id = trm_ctx_agency() AND trm_ctx_role() IN ('caseworker', 'coordinator')
          AND r.legal_basis = 'consent' AND 'contact' = ANY (r.categories)
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM l)
$$;
REVOKE ALL ON FUNCTION trm_referral_interpreter_logged(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_referral_interpreter_logged(uuid, text) TO trm_app;

-- Erasure (trmd's, retention, a transfer out to a peer) deletes the documents with the key.
CREATE OR REPLACE FUNCTION trm_case_forget_personal(p_ids uuid[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM case_keys WHERE case_id = ANY (p_ids);
    DELETE FROM case_personal WHERE case_id = ANY (p_ids);
    DELETE FROM case_blind_index WHERE case_id = ANY (p_ids);
    DELETE FROM case_notes WHERE case_id = ANY (p_ids);
    DELETE FROM documents WHERE case_id = ANY (p_ids);
    UPDATE assessments SET sealed_details = NULL WHERE case_id = ANY (p_ids) AND sealed_details IS NOT NULL;
    UPDATE guardians SET sealed = NULL WHERE case_id = ANY (p_ids) AND sealed IS NOT NULL;
    UPDATE consents SET sealed_withdraw_reason = NULL
    WHERE case_id = ANY (p_ids) AND sealed_withdraw_reason IS NOT NULL;
    UPDATE referrals SET sealed_note = NULL, sealed_reason = NULL, sealed_answer_reason = NULL,
                         sealed_interpreter = NULL
    WHERE case_id = ANY (p_ids)
      AND (sealed_note IS NOT NULL OR sealed_reason IS NOT NULL OR sealed_answer_reason IS NOT NULL
           OR sealed_interpreter IS NOT NULL);
$$;

-- A transfer within this instance re-keys the case (0016): the documents of the consented
-- categories go with it, their keys and sealed names sealed again under the new case key;
-- the others are deleted with the old key.
CREATE OR REPLACE FUNCTION trm_case_rekey_material(p_case uuid, p_categories text[]) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'case_id', k.case_id, 'kek_id', k.kek_id, 'dek_version', k.dek_version,
        'wrapped', encode(k.wrapped_dek, 'hex'),
        'items', coalesce((
            SELECT jsonb_agg(i) FROM (
                SELECT jsonb_build_object('kind', 'field', 'category', p.category, 'name', p.field,
                                          'sealed', encode(p.sealed, 'hex')) AS i
                FROM case_personal p WHERE p.case_id = p_case AND p.category = ANY (p_categories)
                UNION ALL
                SELECT jsonb_build_object('kind', 'note', 'id', n.note_id, 'category', n.category,
                                          'sealed', encode(n.sealed, 'hex'))
                FROM case_notes n WHERE n.case_id = p_case AND n.category = ANY (p_categories)
                UNION ALL
                SELECT jsonb_build_object('kind', 'assessment', 'id', a.id,
                                          'sealed', encode(a.sealed_details, 'hex'))
                FROM assessments a WHERE a.case_id = p_case AND a.sealed_details IS NOT NULL
                  AND a.category = ANY (p_categories)
                UNION ALL
                SELECT jsonb_build_object('kind', 'guardian', 'id', g.id,
                                          'sealed', encode(g.sealed, 'hex'))
                FROM guardians g WHERE g.case_id = p_case AND g.sealed IS NOT NULL
                  AND g.category = ANY (p_categories)
                UNION ALL
                SELECT jsonb_build_object('kind', 'consent_reason', 'id', s.id,
                                          'sealed', encode(s.sealed_withdraw_reason, 'hex'))
                FROM consents s WHERE s.case_id = p_case AND s.sealed_withdraw_reason IS NOT NULL
                  AND s.reason_category = ANY (p_categories)
                UNION ALL
                SELECT jsonb_build_object('kind', 'document_key', 'id', d.id,
                                          'sealed', encode(d.sealed_key, 'hex'))
                FROM documents d WHERE d.case_id = p_case AND d.uploaded_at IS NOT NULL
                  AND d.category = ANY (p_categories)
                UNION ALL
                SELECT jsonb_build_object('kind', 'document_meta', 'id', d.id,
                                          'sealed', encode(d.sealed_meta, 'hex'))
                FROM documents d WHERE d.case_id = p_case AND d.uploaded_at IS NOT NULL
                  AND d.category = ANY (p_categories)) x), '[]'))
    FROM case_keys k WHERE k.case_id = p_case
$$;
CREATE OR REPLACE FUNCTION trm_case_rekey(p_case uuid, p_referral uuid, p_old_version integer,
                               p_kek_id text, p_wrapped text, p_items jsonb)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r referrals;
BEGIN
    PERFORM trm_require_caseworker();
    SELECT * INTO r FROM referrals
    WHERE id = p_referral AND case_id = p_case AND kind = 'transfer' AND status = 'accepted'
      AND to_agency_id = trm_ctx_agency() AND peer_instance IS NULL;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM cases WHERE id = p_case
                                AND owner_agency_id = trm_ctx_agency()) THEN
        RETURN false;
    END IF;
    UPDATE case_keys SET kek_id = p_kek_id, wrapped_dek = decode(p_wrapped, 'hex'),
                         dek_version = dek_version + 1
    WHERE case_id = p_case AND dek_version = p_old_version;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    DELETE FROM case_personal WHERE case_id = p_case;
    INSERT INTO case_personal (case_id, category, field, sealed)
    SELECT p_case, i ->> 'category', i ->> 'name', decode(i ->> 'sealed', 'hex')
    FROM jsonb_array_elements(p_items) i WHERE i ->> 'kind' = 'field'
      AND i ->> 'category' = ANY (r.categories);
    DELETE FROM case_notes n WHERE n.case_id = p_case AND NOT EXISTS (
        SELECT 1 FROM jsonb_array_elements(p_items) i
        WHERE i ->> 'kind' = 'note' AND (i ->> 'id')::uuid = n.note_id
          AND n.category = ANY (r.categories));
    UPDATE case_notes n SET sealed = (
        SELECT decode(i ->> 'sealed', 'hex') FROM jsonb_array_elements(p_items) i
        WHERE i ->> 'kind' = 'note' AND (i ->> 'id')::uuid = n.note_id)
    WHERE n.case_id = p_case;
    UPDATE assessments a SET sealed_details = (
        SELECT decode(i ->> 'sealed', 'hex') FROM jsonb_array_elements(p_items) i
        WHERE i ->> 'kind' = 'assessment' AND (i ->> 'id')::uuid = a.id
          AND a.category = ANY (r.categories))
    WHERE a.case_id = p_case AND a.sealed_details IS NOT NULL;
    UPDATE guardians g SET sealed = (
        SELECT decode(i ->> 'sealed', 'hex') FROM jsonb_array_elements(p_items) i
        WHERE i ->> 'kind' = 'guardian' AND (i ->> 'id')::uuid = g.id
          AND g.category = ANY (r.categories))
    WHERE g.case_id = p_case AND g.sealed IS NOT NULL;
    UPDATE consents s SET sealed_withdraw_reason = (
        SELECT decode(i ->> 'sealed', 'hex') FROM jsonb_array_elements(p_items) i
        WHERE i ->> 'kind' = 'consent_reason' AND (i ->> 'id')::uuid = s.id
          AND s.reason_category = ANY (r.categories))
    WHERE s.case_id = p_case AND s.sealed_withdraw_reason IS NOT NULL;
    -- Documents of the consented categories keep their content (sealed under their own
    -- keys, which are sealed again under the new case key); the others go, with uploads
    -- under way (their keys are under the old case key).
    DELETE FROM documents d WHERE d.case_id = p_case
      AND (d.uploaded_at IS NULL OR NOT (d.category = ANY (r.categories)));
    UPDATE documents d SET
        sealed_key = (SELECT decode(i ->> 'sealed', 'hex') FROM jsonb_array_elements(p_items) i
                      WHERE i ->> 'kind' = 'document_key' AND (i ->> 'id')::uuid = d.id),
        sealed_meta = (SELECT decode(i ->> 'sealed', 'hex') FROM jsonb_array_elements(p_items) i
                       WHERE i ->> 'kind' = 'document_meta' AND (i ->> 'id')::uuid = d.id)
    WHERE d.case_id = p_case;
    -- Referral notes and reasons were written for earlier handovers: they stay with the
    -- old key, which goes now.
    UPDATE referrals SET sealed_note = NULL, sealed_reason = NULL, sealed_answer_reason = NULL,
                         sealed_interpreter = NULL
    WHERE case_id = p_case
      AND (sealed_note IS NOT NULL OR sealed_reason IS NOT NULL OR sealed_answer_reason IS NOT NULL
           OR sealed_interpreter IS NOT NULL);
    IF NOT ('identity' = ANY (r.categories)) THEN
        DELETE FROM case_blind_index WHERE case_id = p_case;
    END IF;
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_case, 'rekeyed', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('referral_id', p_referral, 'categories', to_jsonb(r.categories)));
    RETURN true;
END;
$$;
