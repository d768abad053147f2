// The in-browser recorder's live tap (an AudioWorklet, loaded by record.js from this
// file: the Content-Security-Policy allows only this origin's scripts). It hands each
// 128-frame block of the microphone's first channel to the page, which brings it to
// 16 kHz int16 and sends it to the server; it changes nothing of what is recorded.
class LiveTap extends AudioWorkletProcessor {
  process(inputs) {
    var input = inputs[0];
    if (input && input.length && input[0].length) {
      this.port.postMessage(input[0].slice(0));
    }
    return true;
  }
}
registerProcessor("callvault-live-tap", LiveTap);
