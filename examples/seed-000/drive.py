"""Types into seed 000's interactive example as a user would.

Usage: python3 drive.py [line ...]

It starts webhooks_example.py, types each line (waiting a little between
them, as a person does), waits for the bot's replies to arrive on the
example's webhook, then presses Ctrl-C. Everything the example prints is
passed through. Run it with flowbot serve and a language model up (see
README.md in this folder).
"""
import signal
import subprocess
import sys
import threading
import time

lines = sys.argv[1:] or ["Hi Anna! I want to get fit.", "I can train three times a week.", "What should I start with?"]
here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
proc = subprocess.Popen([sys.executable, "-u", here + "/webhooks_example.py"], stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
received = []

def pump():
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if "Bot:" in line:
            received.append(line)

threading.Thread(target=pump, daemon=True).start()
time.sleep(2)  # the example creates its bot and conversation
for text in lines:
    before = len(received)
    sys.stdout.write(f"[typed] {text}\n")
    proc.stdin.write(text + "\n")
    proc.stdin.flush()
    deadline = time.time() + 20
    while time.time() < deadline:
        n = len(received)
        time.sleep(3)
        if len(received) > before and len(received) == n:
            break  # the replies came, and nothing more for 3 s
proc.send_signal(signal.SIGINT)
code = proc.wait(timeout=10)
time.sleep(0.2)
print(f"[example exited with status {code}; {len(received)} bot messages received]")
sys.exit(0 if code == 0 and received else 1)
