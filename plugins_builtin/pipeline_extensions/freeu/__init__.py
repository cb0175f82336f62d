"""FreeU: re-weights the skip connections and backbone features of a UNet."""
