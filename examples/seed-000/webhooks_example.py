# Seed 000's webhook example, unchanged but for BASE_URL and WEBHOOK_URL:
# BASE_URL points at a local `flowbot serve` (with FLOWBOT_API_KEYS=sk_yourapikey)
# and WEBHOOK_URL at this script's own Flask server on loopback.
import requests
import time
from flask import Flask, request
import threading

API_KEY = "sk_yourapikey"
BASE_URL = "http://127.0.0.1:8080"

# Your public webhook URL (use ngrok URL for local development)
WEBHOOK_URL = "http://127.0.0.1:5000/webhook"

headers = {
    "Authorization": f"Bearer {API_KEY}",
    "Content-Type": "application/json"
}

# Create Flask app to receive webhooks
app = Flask(__name__)
conversation_id = None

@app.route('/webhook', methods=['POST'])
def handle_webhook():
    """
    The Chat API calls this endpoint when bot messages arrive.
    """
    data = request.json
    conversation_id = data["conversation_id"]
    print("message received for", conversation_id)
    message = data['message']
    from_bot = message['from_bot'] # Messages received via webhook will always be from the bot, so this is always True
    print(f"🤖 Bot: {message['text']}")
    print("> ", end='', flush=True)

    # CRITICAL: Must return 200!
    return '', 200

# Start Flask server in background
def start_webhook_server():
    app.run(port=5000)

webhook_thread = threading.Thread(target=start_webhook_server, daemon=True)
webhook_thread.start()
print("✓ Webhook server running on port 5000\n")

bot_response = requests.post(
    f"{BASE_URL}/api/bots",
    headers=headers,
    json={
        "name": "Anna",
        "freeform": "You're energetic and passionate",
        "attributes": [
            {"name": "bio", "value": "Certified personal trainer specializing in HIIT"},
            {"name": "age", "value": "28"},
            {"name": "location", "value": "Miami, FL"}
        ]
    }
)
bot_id = bot_response.json()['bot']['id']
print(f"✓ Bot created (ID: {bot_id})\n")

conversation_response = requests.post(
    f"{BASE_URL}/api/conversations",
    headers=headers,
    json={
        "bot_id": bot_id,
        "user_id": "user_example",
        "create_user_if_not_exists": True,
        "webhook": WEBHOOK_URL # Bot messages will be POSTed here
    }
)
conversation_id = conversation_response.json()['conversation']['id']
print(f"✓ Conversation created (ID: {conversation_id})")
print(f"✓ Webhook configured: {WEBHOOK_URL}\n")

def send_message(text):
    """Send a user message to the conversation"""
    requests.post(
        f"{BASE_URL}/api/conversations/{conversation_id}/messages",
        headers=headers,
        json={
            "message": {
                "text": text,
                "from_bot": False
            }
        }
    )

# Interactive chat loop
print("=" * 60)
print("Type your messages below. Bot responses arrive via webhook.")
print("Press Ctrl-C to exit")
print("=" * 60 + "\n")

try:
    while True:
        user_input = input("> ").strip()
        if user_input:
            send_message(user_input)
except KeyboardInterrupt:
    print("\n\nExiting...")
    exit(0)
