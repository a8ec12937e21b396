-- Sign-in forms carry their authorization request (nothing is stored before someone signs in); what is stored is only
-- that a request was answered (a code issued or access denied), so that a form is answered once by any instance,
-- until the form expires. The table `authorization_requests` of 0003 is no longer written (its expired rows are still
-- swept, for instances of earlier versions during a rolling upgrade).
CREATE TABLE answered_authorization_requests (
    rid_hash    TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX answered_authorization_requests_expiry ON answered_authorization_requests (expires_at);
