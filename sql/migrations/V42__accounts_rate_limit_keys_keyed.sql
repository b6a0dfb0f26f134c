-- Rate limits' keys are now an HMAC under the server's key secret
-- (CAREGO_KEY_SECRET; src/auth/rate_limit.rs) instead of a bare SHA-256 of
-- an IP address or a login name, which anyone holding the table could
-- reverse by hashing candidates. The rows counted so far hold such bare
-- hashes and would never match again: drop them, so no reversible trace of
-- who tried to log in stays behind. Windows last an hour at most; the
-- limits start again once, at this upgrade.
delete from rate_limit_hits;

comment on column rate_limit_hits.key_hash is
    'HMAC-SHA256 under CAREGO_KEY_SECRET of the bucket and the limited value (src/auth/rate_limit.rs); never the value, never a bare hash of it';
