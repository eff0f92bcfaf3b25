cd /work/wt/lead
R=/tmp/qb/bis; mkdir -p $R
for i in 1 2 3; do for s in B P0 P1 C; do
  echo "$(date +%T) $s $i (load $(cut -d' ' -f1 /proc/loadavg))" >> $R/progress.txt
  BATON_BIN=/tmp/qb/baton-$s timeout 600 python3 bench/handover/run.py --rounds 50 --nice 10 > $R/handover-$s-$i.txt 2>&1
done; done
echo end >> $R/progress.txt
