// The native image functions of the data loaders (native/image via native/binding/image_wrap.cpp):
// a JPEG decoder over libjpeg-turbo, and the channel conversion and antialiased resize every
// decoded image goes through, whichever decoder produced it. `sync` variants are for the decode
// worker threads (nothing else runs there); the Promise ones run on libuv's pool, off the event loop.
import { loadAddon, type NativeImage, type NativeImageTarget } from './addon.js';

export type { NativeImage, NativeImageTarget };

/** The JPEG library the native decoder uses, or null with the reason there is none. */
export function nativeJpegDecoder(): { library: string } | { library: null; reason: string } {
  const a = loadAddon();
  return a.imageDecoder ? { library: a.imageDecoder } : { library: null, reason: a.imageDecoderAbsence };
}

/** `bytes` decoded and prepared to `target`, or null when the native decoder does not take the file. */
export function decodeJpegSync(bytes: Uint8Array, target: NativeImageTarget): NativeImage | null {
  return loadAddon().decodeImage(bytes, target, false);
}

export function decodeJpeg(bytes: Uint8Array, target: NativeImageTarget): Promise<NativeImage | null> {
  return loadAddon().decodeImage(bytes, target, true);
}

/** A decoded image (interleaved, 1 to 4 channels) converted to `target`'s channels and resized to its size. */
export function prepareImageSync(img: NativeImage, target: NativeImageTarget): NativeImage {
  return loadAddon().prepareImage(img.data, img.width, img.height, img.channels, target, false);
}

export function prepareImage(img: NativeImage, target: NativeImageTarget): Promise<NativeImage> {
  return loadAddon().prepareImage(img.data, img.width, img.height, img.channels, target, true);
}
