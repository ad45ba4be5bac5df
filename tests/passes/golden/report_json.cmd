report tied.lstm --weights $T/tied.st --array 4x16 --json
