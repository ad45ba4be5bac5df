generate tied.lstm --weights $T/tied.st --target systolic --length 40 --seed 3 --array 4x4 | wc -c
