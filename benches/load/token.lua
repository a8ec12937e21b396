-- wrk script for target 8: client_credentials issuance on the built-in token endpoint. The client's Basic
-- credentials come with -H "Authorization: Basic ..." on the wrk command line.
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=api%3Aread"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
