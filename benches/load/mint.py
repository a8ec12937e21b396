#!/usr/bin/env python3
"""Mint N distinct access tokens from an OAuth2 token endpoint (client_credentials, client_secret_basic) over a few
keep-alive connections, one token a line. Used by benches/load.sh for target 7.

    mint.py URL CLIENT_ID CLIENT_SECRET N OUT_FILE [SCOPE]
"""
import base64
import http.client
import json
import sys
import threading
import urllib.parse


def main():
    url, cid, secret, n, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    scope = sys.argv[6] if len(sys.argv) > 6 else "api:read"
    u = urllib.parse.urlsplit(url)
    creds = urllib.parse.quote(cid, safe="") + ":" + urllib.parse.quote(secret, safe="")
    headers = {
        "Authorization": "Basic " + base64.b64encode(creds.encode()).decode(),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope})
    workers = 4
    tokens = [[] for _ in range(workers)]
    errors = []

    def work(i):
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        try:
            for _ in range(n // workers + (1 if i < n % workers else 0)):
                conn.request("POST", u.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                if r.status != 200:
                    raise RuntimeError(f"token endpoint answered {r.status}: {data[:200]!r}")
                tokens[i].append(json.loads(data)["access_token"])
        except Exception as e:  # reported below
            errors.append(e)
        finally:
            conn.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit(f"mint.py: {errors[0]}")
    flat = [t for ts in tokens for t in ts]
    if len(set(flat)) != n:
        sys.exit(f"mint.py: got {len(set(flat))} distinct tokens, wanted {n}")
    with open(out, "w") as f:
        f.write("\n".join(flat) + "\n")


if __name__ == "__main__":
    main()
