-- Scenario 1: POST /v1/cases with personal fields in every category (no Idempotency-Key).
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
wrk.method = "POST"
wrk.path = "/v1/cases"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{"country": "SE", "sex": "female", "age_band": "21-23", "citizenship": "PH",
 "exploitation_forms": ["labour"], "identified_month": "2026-01", "person": {
 "identity": {"full_name": "Bench person", "aliases": ["Alias"], "date_of_birth": "1999-03-17",
  "documents": [{"type": "passport", "number": "P000000001", "country": "PH"}]},
 "contact": {"phone": "+46 70 0000001", "address": "Shelter street 1", "current_location": "Room 2"},
 "health": {"notes": "Notes on health", "vulnerabilities": ["minor injuries"]},
 "narrative": {"statement": "A statement of some length about what happened, as a caseworker would record it."},
 "exploitation_details": {"recruitment": "Recruited online", "means_of_control": ["debt"],
  "places": ["Factory"], "dates": ["2026-05"]}}}]]
