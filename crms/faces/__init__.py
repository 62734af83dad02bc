"""crms.faces"""
