# Reads an Android init .rc file and prints the first `service` block (or the
# one named by -v want=NAME) as key=value lines:
#   name=<service name>
#   path=<executable>
#   args=<arguments, space separated>
#   user=<user>          (init's default, root, when the block has no `user`)
#   groups=<group> [<supplementary group>...]   (defaults to the user's name)
# Shared by run.sh (to create the accounts on the image) and the VM's /init
# (to start the daemon exactly as init would), so both read the same rules.
# Only what the rig needs: no line continuations, no imports, no properties.
$1 == "service" {
    if (sel) finish()
    sel = (want == "" && !found) || $2 == want
    if (sel) {
        found = 1; user = ""; groups = ""
        print "name=" $2
        print "path=" $3
        args = ""
        for (i = 4; i <= NF; i++) args = args (args == "" ? "" : " ") $i
        print "args=" args
    }
    next
}
$1 == "on" || $1 == "import" { if (sel) finish(); sel = 0; next }
sel && $1 == "user"  { user = $2 }
sel && $1 == "group" { groups = $2; for (i = 3; i <= NF; i++) groups = groups " " $i }
function finish() {
    if (user == "") user = "root"
    if (groups == "") groups = user
    print "user=" user
    print "groups=" groups
    sel = 0
}
END { if (sel) finish(); if (!found) exit 1 }
