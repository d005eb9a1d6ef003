#!/bin/sh
# extract.sh makes this testdata from real .debs, once:
#
#   kiln lock --packages "$(cat packages)"      # in an empty directory, twice:
#   kiln --store STORE fetch > fetch.out         # once for packages, once for packages-mta
#   sh extract.sh STORE fetch-a.out fetch-b.out  # run here, in testdata/
#   cat fetch-a.out fetch-b.out | sed "s#/kiln/store#STORE#" > dirs
#   go test -run TestCorpus -record-closure=dirs  # in the package directory
#
# For every fetched package with a maintainer script, a debconf config
# script, a sysusers.d or a tmpfiles.d file, it copies into NAME/ what the
# package's store path holds of them (.kiln/control/{preinst,postinst,prerm,
# postrm,config,templates,triggers,conffiles,control} and usr/lib/{sysusers,
# tmpfiles}.d). debconf templates keep their untranslated fields only
# (Description-xx and Choices-xx are dropped). The go test run then
# analyzes the corpus against the real closure and writes closure.txt
# (every path the analysis looked up that the closure has) and the helper
# files the scripts source, so that the tests see what the closure holds.
set -eu
store=$1
shift
# NAME DIR for every fetched package, DIR its path in STORE.
cat "$@" | sort -u | awk -v s="$store" '{sub("^/kiln/store", s, $2); print $1, $2}' >/tmp/extract.$$
trap 'rm -f /tmp/extract.$$' EXIT

while read -r name d; do
	c=$d/.kiln/control
	want=
	for f in preinst postinst prerm postrm config; do [ -f "$c/$f" ] && want=1; done
	for g in usr/lib/sysusers.d lib/sysusers.d usr/lib/tmpfiles.d lib/tmpfiles.d; do [ -d "$d/$g" ] && want=1; done
	[ -n "$want" ] || continue
	rm -rf "$name"
	mkdir -p "$name/.kiln/control"
	for f in preinst postinst prerm postrm config triggers conffiles control; do
		[ -f "$c/$f" ] && cp "$c/$f" "$name/.kiln/control/$f"
	done
	if [ -f "$c/templates" ]; then
		awk '/^$/ { keep = 1 } /^[A-Za-z0-9._@-]+:/ { keep = ($0 !~ /^(Description|Choices|Default)-[A-Za-z_@]+(\.[A-Za-z0-9-]+)?:/ || $0 ~ /^Choices-C:/) }
			keep' "$c/templates" >"$name/.kiln/control/templates"
	fi
	for g in usr/lib/sysusers.d lib/sysusers.d usr/lib/tmpfiles.d lib/tmpfiles.d; do
		if [ -d "$d/$g" ]; then
			u=usr/${g#usr/}
			mkdir -p "$name/$u"
			cp -L "$d/$g"/* "$name/$u/"
		fi
	done
done </tmp/extract.$$
