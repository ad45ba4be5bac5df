eval tied.lstm --weights $T/tied.st --data data.txt --target systolic --cell-sim --array 3x5 --gate-latency 2
