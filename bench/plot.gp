# Bar chart of bench/results/latest.dat (written by bench/report.py): one bar per target,
# achieved / target on a log scale, so 1.0 is the target line and taller is better.
# Usage: gnuplot -e "datafile='latest.dat'; outfile='latest.png'" bench/plot.gp
set terminal pngcairo size 1100,560 font ",10" noenhanced
set output outfile
set title "smtpcore benchmarks: achieved / target (>= 1 means met; log scale)"
set style fill solid 0.85 border -1
set boxwidth 0.7
set logscale y
set yrange [0.01:20]
set grid ytics
set ylabel "achieved / target"
set xtics rotate by 30 right
set key off
set bmargin 6
set lmargin 12
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2 lc rgb "#333333"
set label "target" at graph 0.01, first 1.25 tc rgb "#333333"
plot datafile using 1:2:($3 > 0 ? 0x2e8b57 : 0xcd3333):xtic(4) with boxes lc rgb variable, \
     datafile using 1:2:(sprintf("%.2f", $2)) with labels offset 0,0.8
