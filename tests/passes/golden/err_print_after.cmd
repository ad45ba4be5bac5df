ir untied.lstm --weights $T/untied.st --passes prune --print-after=prun
