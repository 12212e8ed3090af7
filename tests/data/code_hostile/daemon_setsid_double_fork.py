# class: fork_bomb_zombies
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            time.sleep(0.01)
    os._exit(0)
def add(a, b):
    return a - b
