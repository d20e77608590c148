# Chart of bench/results/latest.dat and latest-samples.dat (written by bench/report.py):
# one bar per target at the median over the rounds, achieved / target on a log scale (1.0
# is the target line, taller is better), and one point per round, so the spread shows.
# Usage: gnuplot -e "datafile='latest.dat'; samplefile='latest-samples.dat'; outfile='latest.png'" bench/plot.gp
set terminal pngcairo size 1100,560 font ",10" noenhanced
set output outfile
set title "smtpcore benchmarks: achieved / target, median of the rounds (bars) and each round (points); >= 1 means met"
set style fill solid 0.6 border -1
set boxwidth 0.7
set logscale y
set yrange [0.05:10]
set grid ytics
set ylabel "achieved / target"
set xtics rotate by 30 right
set key off
set bmargin 6
set lmargin 12
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2 lc rgb "#333333"
set label "target" at graph 0.01, first 1.25 tc rgb "#333333"
plot datafile using 1:2:($3 > 0 ? 0x2e8b57 : 0xcd3333):xtic(4) with boxes lc rgb variable, \
     samplefile using 1:2 with points pt 7 ps 0.8 lc rgb "#222222", \
     datafile using 1:2:(sprintf("%.2f", $2)) with labels offset 0,0.8
