ir tied.lstm --weights $T/tied.st --stats
