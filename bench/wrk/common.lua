-- Shared by the wrk scripts of bench/run: tokens and case numbers come from the environment.
-- Case k is 00000000-0000-4000-8000-<k in 12 decimal digits> (trmctl seed cases).
token = os.getenv("BENCH_TOKEN")
token_b = os.getenv("BENCH_TOKEN_B")

function case_id(k)
    return string.format("00000000-0000-4000-8000-%012d", k)
end

-- Stateful scripts: each thread walks its own range of cases (tid numbers the threads).
local threads = 0
function setup(thread)
    thread:set("tid", threads)
    threads = threads + 1
end
