package cli

// examples are each verb's EXAMPLES, for those whose usage text does not
// carry its own: kiln help VERB prints them, and the man pages
// (kiln man) are made from the same help text. TestEveryVerbHasExamples
// keeps every verb covered.
var examples = map[string][]string{
	"audit":         {"kiln audit -c web1.hcl", "kiln audit -c web1.hcl --json"},
	"cache":         {"kiln cache push --key fleet.secret --lock web1.lock file:///srv/cache ./result", "kiln cache gc file:///srv/cache --keep ./result --keep web1.lock --dry-run"},
	"confirm":       {"kiln confirm /kiln/store/HASH-kiln-system-web1"},
	"diff":          {"kiln diff 3 4", "kiln diff ./result", "kiln diff 3 ./result --json"},
	"health":        {"kiln health", "kiln health --json"},
	"health-failed": {"kiln health-failed --grace 30s"},
	"deploy":        {"kiln deploy --dry-run", "kiln deploy -f fleet.hcl --on @web --parallel 4", "kiln deploy --rolling 2 --substitute --json"},
	"eval":          {"kiln eval -c web1.hcl networking.host_name", "kiln eval -c web1.hcl --explain services.hello.exec_start", "kiln eval -c web1.hcl --json"},
	"fetch":         {"kiln fetch -c web1.hcl", "kiln fetch --json"},
	"gc":            {"kiln gc --dry-run", "kiln gc"},
	"generations":   {"kiln generations", "kiln generations list --json", "kiln generations delete 3 4", "kiln generations delete --older-than 30d"},
	"image":         {"kiln image -c web1.hcl -o web1.img", "kiln image -c web1.hcl -o web1.qcow2 --size 8G", "kiln image --format vhd -o azure.vhd"},
	"install":       {"kiln install --disk disk.img -c web1.hcl", "kiln install --disk /dev/disk/by-id/nvme-Samsung_SSD_1 -c web1.hcl --wipe"},
	"key":           {"kiln key generate fleet-cache-1"},
	"rollback":      {"kiln rollback", "kiln rollback --to 3", "kiln rollback --to 3 --boot"},
	"secrets":       {"kiln secrets host-key --target-host web1 >> secrets/recipients", "kiln secrets edit -i ~/.ssh/id_ed25519 secrets/db-password.age", "kiln secrets rekey -i ~/.ssh/id_ed25519 secrets"},
	"state":         {"kiln state audit", "kiln state audit --json"},
	"shell":         {"kiln shell jq -- jq --version", "kiln shell curl git"},
	"store":         {"kiln store verify", "kiln store info ./result", "kiln store roots --json"},
	"switch":        {"kiln switch -c web1.hcl", "kiln switch -c web1.hcl --dry-run", "kiln switch -c web1.hcl --no-boot", "kiln switch --target-host web1 -c web1.hcl", "kiln switch --upgrade -c web1.hcl"},
	"test":          {"kiln test tests/vm/smoke.hcl"},
	"vm":            {"kiln vm web1.img", "kiln vm -c web1.hcl"},
	"why":           {"kiln why -c web1.hcl libssl3", "kiln why -c web1.hcl curl --json"},
}
