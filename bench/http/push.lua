-- wrk script: POST /push with a small JSON tree (3 leaves), keep-alive (wrk's default).
wrk.method = "POST"
wrk.body = '{"bench":{"web1":{"cpu":12.5,"mem":40},"web2":{"cpu":3}}}'
wrk.headers["Content-Type"] = "application/json"
