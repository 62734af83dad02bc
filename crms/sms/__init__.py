"""crms.sms"""
