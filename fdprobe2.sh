#!/bin/bash
S=$1
for i in $(seq 1 150); do
  coproc SRV { ASAN_OPTIONS=detect_leaks=1 exec $S 2>/dev/null; }
  read -r line <&${SRV[0]}
  pid=$SRV_PID
  la=$(ls -l /proc/$pid/fd | awk 'NR>1{print $9"="$NF}' | tr '\n' ' ')
  a=$(ls /proc/$pid/fd | wc -l)
  sleep 0.2
  b=$(ls /proc/$pid/fd | wc -l)
  if [ "$a" != "$b" ]; then echo "run $i: $a -> $b : $la"; fi
  kill $pid; wait $pid 2>/dev/null
done
echo done
