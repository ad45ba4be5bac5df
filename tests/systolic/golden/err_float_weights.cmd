eval untied.lstm --weights $T/untied.st --data data.txt --target systolic
