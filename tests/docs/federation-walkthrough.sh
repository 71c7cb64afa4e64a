#!/usr/bin/env bash
# Runs the walk-through "Two instances on one machine" of docs/federation.md: exactly its
# shell blocks, in order, from the root of the checkout, with the instances' directories in
# this run's scratch space and their ports free ones. Then checks what the walk-through
# shows (connected both ways, the transfer, the sender's case transferred out and never
# overdue, both logs verified) and stops both instances. Run by scripts/test (ctest).
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
cd "$TRM_ROOT"
: "${TRM_TEST_TMPDIR:?run through scripts/test}"

work=$TRM_TEST_TMPDIR/walkthrough.$$
mkdir -p "$work" && chmod 755 "$work"
script=$work/walkthrough.sh
{
    echo 'set -euo pipefail'
    # The doc's blocks: every ```sh block of its section, nothing else.
    awk '
        /^## / { in_section = ($0 == "## Two instances on one machine") }
        in_section && /^```sh$/ { in_block = 1; next }
        in_block && /^```$/ { in_block = 0; print ""; next }
        in_block { print }
    ' docs/federation.md
    cat <<'CHECKS'
# What the walk-through shows, checked.
se peer check ph.trm | grep '^connected: ph.trm' >/dev/null
ph peer check se.trm | grep '^connected: se.trm' >/dev/null
api $SE_TOKEN $SE_URL/v1/cases/$CASE | jq -e '.state == "transferred_out" and .due_at == null
    and .person == {} and .transferred_out.instance == "ph.trm"
    and (.transferred_out.remote_reference | startswith("PH-"))
    and ([.tracks[].state] | all(. == "transferred_out"))' >/dev/null
LOCAL=$(api $PH_TOKEN $PH_URL/v1/referrals/$REFERRAL | jq -r .case_id)
api $SE_TOKEN $SE_URL/v1/cases/$CASE | jq -e --arg id "$LOCAL" '.transferred_out.remote_case_id == $id' >/dev/null
api $PH_TOKEN $PH_URL/v1/cases/$LOCAL | jq -e '.person | keys == ["identity"]' >/dev/null
api $SE_TOKEN "$SE_URL/v1/cases?overdue=true&limit=100" | jq -e --arg id $CASE 'all(.items[]; .id != $id)' >/dev/null
echo "walkthrough: checked"
kill %1 %2
wait
CHECKS
} >"$script"
n=$(grep -c '' "$script")
[ "$n" -gt 30 ] || die "the walk-through's blocks were not found in docs/federation.md"

export SE_VAR=$work/se PH_VAR=$work/ph
SE_URL=http://127.0.0.1:$(trm_free_port)
PH_URL=http://127.0.0.1:$(trm_free_port)
[ "$SE_URL" != "$PH_URL" ] || PH_URL=http://127.0.0.1:$(trm_free_port)
export SE_URL PH_URL

# Whatever happens, both instances (trmd and PostgreSQL) end with this test.
cleanup() {
    [ -n "${pgid:-}" ] && kill -TERM -- "-$pgid" 2>/dev/null || true
    sleep 1
    for d in "$SE_VAR" "$PH_VAR"; do trm_pg_stop "$d/pg/data"; done
}
trap cleanup EXIT
start=$(date +%s)
# A stuck step (an instance that never answers) ends the run, not the suite.
setsid -w timeout 300 bash "$script" </dev/null &
pgid=$!
status=0
wait $pgid || status=$?
pgid=
if [ "$status" -ne 0 ]; then
    echo "walkthrough: failed ($status); the instances' logs:"
    tail -n 30 "$SE_VAR.log" "$PH_VAR.log" 2>/dev/null || true
    exit 1
fi
echo "walkthrough: docs/federation.md ran in $(($(date +%s) - start)) s"
