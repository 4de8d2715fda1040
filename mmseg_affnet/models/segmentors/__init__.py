from .channel_checked_encoder_decoder import ChannelCheckedEncoderDecoder

__all__ = ['ChannelCheckedEncoderDecoder']
