package ssekify

// EncodeFrame exposes the frame encoder to the external tests.
var EncodeFrame = encodeFrame
