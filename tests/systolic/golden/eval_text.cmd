eval tied.lstm --weights $T/tied.st --data data.txt --target systolic
