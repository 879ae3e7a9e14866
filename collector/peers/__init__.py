"""The peers the agent measures against: the path reflector, the speed test and the WebRTC media peer."""
