eval tied.lstm --weights $T/tied.st --data data.txt --array 16x16
