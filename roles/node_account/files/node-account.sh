#!/bin/sh
# node-account: create or remove a bunkhouse tenant account inside a node, idempotently.
#
# roles/node_account runs this with its action plugin node_account_apply: one `docker exec` per
# node and no Python started inside it, which is what made account runs slow. The secrets come
# on standard input, never as arguments (every process of the node and of the host can read a
# command line):
#
#   node-account present NAME UID_MIN UID_MAX SHELL COMMENT SUDO NOPASSWD  < HASH-LINE + KEYS
#   node-account absent  NAME UID_MIN UID_MAX [COMMENT]
#
# For present, the first line of standard input is the crypt(3) password hash (empty: no
# password) and the rest holds the authorized public keys, one per line. SUDO and NOPASSWD are
# yes or no. An absent with a COMMENT removes the account only if its comment is that one: the
# service writes its lease into the comment, so a late removal for one lease never takes the
# account of the same name that another lease made since (it reports "bunkhouse-kept: ...").
# Removal takes everything the account left: processes, files in every writable place, cron and
# at jobs, SysV IPC objects and POSIX message queues.
#
# The last line printed is "bunkhouse-changed: yes" or "bunkhouse-changed: no". A failure says
# why on stderr and exits 1 (the node is broken) or 3 (the input cannot be applied here: the
# name is an account or group of the node image, a value is malformed; nothing was changed).
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

changed=no
fail() { echo "node-account: $*" >&2; exit 1; }
bad_input() { echo "node-account: $*" >&2; exit 3; }
note() { changed=yes; }

[ $# -ge 4 ] || fail "usage: node-account present|absent NAME UID_MIN UID_MAX ..."
action=$1 name=$2 uid_min=$3 uid_max=$4
shift 4

# The role checked the name already; a second check costs nothing.
case $name in
    "" | -* | [!a-z_]* | *[!a-z0-9_-]*) bad_input "invalid account name" ;;
esac
[ ${#name} -le 32 ] || bad_input "invalid account name"

uid=""
if entry=$(getent passwd "$name"); then
    uid=$(echo "$entry" | cut -d: -f3)
    if [ "$uid" -lt "$uid_min" ] || [ "$uid" -gt "$uid_max" ]; then
        bad_input "$name is an account of the node image (uid $uid outside $uid_min..$uid_max); bunkhouse never changes it"
    fi
fi
sudoers=/etc/sudoers.d/bunkhouse-$name
crontab=/var/spool/cron/crontabs/$name
# Where an account without sudo can leave files: the world-writable folders of the node image,
# the mail spool, cron's spool and the homes. (A tenant with sudo can write anywhere, as root:
# only recreating the node from its image removes all of that.)
# /var/spool/cron holds crontabs and at jobs; /dev/mqueue the POSIX message queues.
writable="/tmp /var/tmp /dev/shm /dev/mqueue /run/lock /var/mail /var/spool/cron /home"

# Write CONTENT to FILE with MODE and OWNER when it differs; note the change.
put_file() {
    file=$1 content=$2 mode=$3 owner=$4
    if [ -f "$file" ] && [ "$(cat "$file"; echo x)" = "$(printf '%s' "$content"; echo x)" ] \
        && [ "$(stat -c '%a %U:%G' "$file")" = "${mode#0} $owner" ]; then
        return 0
    fi
    tmp=$(mktemp "$file.XXXXXX")
    printf '%s' "$content" > "$tmp"
    chmod "$mode" "$tmp"
    chown "$owner" "$tmp"
    mv -f "$tmp" "$file"
    note
}

# A name with no account but a group: a group outside the tenant range is the node image's
# (disk, tty, staff...), which useradd would fail on and bunkhouse never takes or changes (bad
# input); one inside it is the leftover of a removal that was cut short, and it goes.
refuse_image_group() {
    [ -z "$uid" ] || return 0
    group=$(getent group "$name") || return 0
    gid=$(echo "$group" | cut -d: -f3)
    if [ "$gid" -lt "$uid_min" ] || [ "$gid" -gt "$uid_max" ]; then
        bad_input "$name is a group of the node image (gid $gid); bunkhouse never takes or changes it"
    fi
    groupdel "$name"
    note
}

present() {
    [ $# -eq 4 ] || fail "present needs SHELL COMMENT SUDO NOPASSWD (and the hash and keys on stdin)"
    shell=$1 comment=$2 sudo=$3 nopasswd=$4
    # read and cat are shell builtins or plain reads: the hash never becomes an argument.
    IFS= read -r hash || true
    keys=$(cat)
    case $hash in
        "" | '$1$'* | '$5$'* | '$6$'* | '$y$'* | '$2'[abxy]'$'*) ;;
        *) bad_input "the password hash is not a crypt(3) hash" ;;
    esac
    case $hash in *[!./A-Za-z0-9\$,=]*) bad_input "the password hash is not a crypt(3) hash" ;; esac
    [ -n "$hash" ] || [ -n "$keys" ] || bad_input "a present account needs a password hash or an SSH key"
    case $shell in /*) ;; *) bad_input "the shell must be an absolute path" ;; esac
    [ -x "$shell" ] || bad_input "the shell $shell is not on this node"
    case $comment in *:*) bad_input "the comment must not contain ':'" ;; esac
    if [ "$sudo" = yes ] && grep -q '^NoNewPrivs:[[:space:]]*1' /proc/self/status; then
        bad_input "this node runs with no-new-privileges: sudo needs a pool made with pool_node_sudo"
    fi
    refuse_image_group
    if [ -z "$uid" ]; then
        useradd --create-home --user-group --shell "$shell" --comment "$comment" "$name"
        note
    else
        entry=$(getent passwd "$name")
        [ "$(echo "$entry" | cut -d: -f7)" = "$shell" ] || { usermod --shell "$shell" "$name"; note; }
        [ "$(echo "$entry" | cut -d: -f5)" = "$comment" ] || { usermod --comment "$comment" "$name"; note; }
    fi
    home=$(getent passwd "$name" | cut -d: -f6)
    [ -d "$home" ] || { mkhomedir_helper "$name" 2>/dev/null || install -d -m 0750 -o "$name" -g "$name" "$home"; note; }

    # The password: the hash goes to chpasswd on stdin (printf is a shell builtin).
    wanted=${hash:-!}
    shadow=$(getent shadow "$name")
    if [ "$(echo "$shadow" | cut -d: -f2)" != "$wanted" ]; then
        printf '%s:%s\n' "$name" "$wanted" | chpasswd --encrypted
        note
    fi
    # An expiry date left by an interrupted removal would refuse every login.
    if [ -n "$(echo "$shadow" | cut -d: -f8)" ]; then
        chage --expiredate -1 "$name"
        note
    fi

    if [ "$sudo" = yes ]; then
        rule="$name ALL=(ALL:ALL) ALL"
        [ "$nopasswd" = yes ] && rule="$name ALL=(ALL:ALL) NOPASSWD: ALL"
        if [ "$(cat "$sudoers" 2>/dev/null)" != "$rule" ] || [ "$(stat -c '%a' "$sudoers")" != 440 ]; then
            tmp=$(mktemp /etc/sudoers.d/.bunkhouse.XXXXXX)
            printf '%s\n' "$rule" > "$tmp"
            chmod 0440 "$tmp"
            visudo -cqf "$tmp" || { rm -f "$tmp"; fail "the sudoers rule does not validate"; }
            mv -f "$tmp" "$sudoers"
            note
        fi
    elif [ -e "$sudoers" ]; then
        rm -f "$sudoers"
        note
    fi

    if [ -n "$keys" ]; then
        if [ ! -d "$home/.ssh" ] || [ "$(stat -c '%a %U' "$home/.ssh")" != "700 $name" ]; then
            install -d -m 0700 -o "$name" -g "$name" "$home/.ssh"
            note
        fi
        put_file "$home/.ssh/authorized_keys" "$keys
" 0600 "$name:$name"
    elif [ -e "$home/.ssh/authorized_keys" ]; then
        rm -f "$home/.ssh/authorized_keys"
        note
    fi
}

# The ids of one SysV IPC table's objects (shm, sem or msg) that a uid owns or made. A shared
# memory segment already removed but still attached by a process of another uid is marked
# for destruction (SHM_DEST, 01000 in its mode) and goes with its last user: it is not listed.
ipc_ids() {
    case $1 in sem) owner_column=5 creator_column=7 ;; *) owner_column=8 creator_column=10 ;; esac
    awk -v u="$2" -v o="$owner_column" -v c="$creator_column" -v table="$1" '
        NR > 1 && ($o == u || $c == u) {
            if (table == "shm" && length($3) >= 4 && substr($3, length($3) - 3, 1) ~ /[1357]/) next
            print $2
        }' "/proc/sysvipc/$1"
}

# Remove the SysV IPC objects (shared memory, semaphores, message queues) a uid owns or made.
# Only their owner or creator (or CAP_SYS_ADMIN, which nodes do not have) may remove them, so
# ipcrm runs as that uid; the uid has no process left by then.
remove_ipc() {
    for kind in shm:m sem:s msg:q; do
        for id in $(ipc_ids "${kind%:*}" "$1"); do
            setpriv --reuid="$1" --regid="$1" --clear-groups ipcrm "-${kind#*:}" "$id" 2>/dev/null || true
            note
        done
    done
    [ -z "$(ipc_ids shm "$1")$(ipc_ids sem "$1")$(ipc_ids msg "$1")" ] || fail "IPC objects of uid $1 survived ipcrm"
}

# The tenant uids that own or made a SysV IPC object but have no account any more.
orphan_ipc_uids() {
    awk 'FILENAME ~ /sem$/ { u = $5; c = $7 } FILENAME !~ /sem$/ { u = $8; c = $10 }
         FNR > 1 { print u; print c }' /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg | sort -un |
    while read -r ipc_uid; do
        if [ "$ipc_uid" -ge "$uid_min" ] && [ "$ipc_uid" -le "$uid_max" ] && ! getent passwd "$ipc_uid" >/dev/null; then
            echo "$ipc_uid"
        fi
    done
}

# Kill processes of tenant uids that have no account left (an interrupted removal), then
# delete every file whose owner or group no longer exists.
sweep_orphans() {
    for attempt in 1 2 3 4 5; do
        orphans=$(ps -eo uid=,pid= | while read -r puid pid; do
            if [ "$puid" -ge "$uid_min" ] && [ "$puid" -le "$uid_max" ] && ! getent passwd "$puid" >/dev/null; then
                echo "$pid"
            fi
        done)
        [ -z "$orphans" ] && break
        # shellcheck disable=SC2086 # one pid per word
        kill -KILL $orphans 2>/dev/null || true
        note
        sleep 0.2
    done
    for ipc_uid in $(orphan_ipc_uids); do remove_ipc "$ipc_uid"; done
    # shellcheck disable=SC2086 # one folder per word
    removed=$(find $writable -xdev -depth \( -nouser -o -nogroup \) -print -exec rm -rf -- {} + 2>/dev/null || true)
    [ -z "$removed" ] || note
}

absent() {
    owner=${1:-}
    refuse_image_group
    if [ -n "$uid" ] && [ -n "$owner" ] && [ "$(getent passwd "$name" | cut -d: -f5)" != "$owner" ]; then
        echo "bunkhouse-kept: $name belongs to another lease"
        echo "bunkhouse-changed: no"
        exit 0
    fi
    if [ -n "$uid" ]; then
        # Lock first: nobody logs in while the account goes.
        usermod --lock --expiredate 1 --shell /usr/sbin/nologin "$name"
        for attempt in 1 2 3 4 5 6 7 8 9 10; do
            pgrep -u "$name" >/dev/null || break
            pkill -KILL -u "$name" || true
            sleep 0.2
        done
        pgrep -u "$name" >/dev/null && fail "processes of $name survived SIGKILL"
        remove_ipc "$uid"
        # userdel complains about a missing mail spool; what is left is checked below.
        userdel --remove --force "$name" 2>/dev/null || true
        note
    fi
    for file in "$sudoers" "$crontab"; do
        if [ -e "$file" ]; then rm -f "$file"; note; fi
    done
    sweep_orphans

    left=""
    getent passwd "$name" >/dev/null && left="$left account;"
    getent group "$name" >/dev/null && left="$left group;"
    [ -e "/home/$name" ] && left="$left home;"
    [ -e "/var/mail/$name" ] && left="$left mail spool;"
    [ -e "$crontab" ] && left="$left crontab;"
    [ -e "$sudoers" ] && left="$left sudoers file;"
    # shellcheck disable=SC2086
    [ -n "$(find $writable -xdev \( -nouser -o -nogroup \) -print -quit 2>/dev/null)" ] && left="$left orphaned files;"
    [ -z "$left" ] || fail "left behind by $name:$left"
}

case $action in
    present) present "$@" ;;
    absent) absent "$@" ;;
    *) fail "unknown action $action" ;;
esac
echo "bunkhouse-changed: $changed"
