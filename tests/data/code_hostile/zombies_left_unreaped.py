# class: fork_bomb_zombies
import os
for _ in range(30):
    try:
        if os.fork() == 0:
            os._exit(0)
    except OSError:
        break
def add(a, b):
    return a - b
