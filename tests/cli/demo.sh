# make demo's script (tools/demo.sh) runs the whole chain and shows the
# whole text report, the skew table included, and where the report is.
# tier: full (slow: `make check` skips it)
. "$TOP/tests/cli/lib.sh"

run sh "$TOP/tools/demo.sh" "$B" "$PWD/demo-out"
expect_rc 0 "the demo runs the whole chain"
expect_out '^skew: rate of sexual' "the demo shows the skew table"
expect_out '^report: +.*/demo-out/report.html' "and says where the report is"
expect_out '^manifest: .*/demo-out/manifest/manifest.json' "and where the manifest is"
[ -s demo-out/report.html ] && ok "the HTML report is written" || bad "the HTML report is written"
