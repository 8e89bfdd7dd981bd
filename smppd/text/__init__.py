"""Text for SMS: character sets (GSM 03.38 with national language tables,
Latin-1, IA5, UCS-2/UTF-16), segmentation of long texts and reassembly of
incoming parts. Pure: values in, values out."""
