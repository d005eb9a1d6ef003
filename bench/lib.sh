# bench/lib.sh: sourced by the benchmark scripts.
# figure NAME VALUE UNIT [TARGET] prints one figure for bench/run's table
# (a line starting with "@figure", tab-separated); TARGET is free text
# such as "<= 0.2" or "-".
figure() {
	printf '@figure\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:--}"
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
