#!/bin/sh
# Runs in the watch-lab guest's chroot: execute the host's cmd-N snippets in order.
W=$1
cd "$2" || exit 1
export PYTHONDONTWRITEBYTECODE=1 W
echo ready > "$W/ready"
n=1
while [ ! -e "$W/exit" ]; do
    if [ -e "$W/cmd-$n" ]; then
        sh "$W/cmd-$n" > "$W/out-$n" 2>&1
        echo $? > "$W/ack-$n"
        n=$((n + 1))
    else
        sleep 0.2
    fi
done
